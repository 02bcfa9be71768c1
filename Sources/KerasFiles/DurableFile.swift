import Core
import Foundation

/// Files that are either whole or absent: written beside their destination, flushed to the disk,
/// then renamed into place, so a kill, a crash or a full disk never leaves half a file or destroys
/// the previous one.
public enum DurableFile {
    /// Writes `data` to `url` atomically; on failure nothing new is left behind. `flush` waits until the
    /// bytes are on the disk: worth it for checkpoints and results, not for thousands of files that can
    /// be made again.
    public static func write(_ data: Data, to url: URL, flush: Bool = true) throws {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp")
        do {
            guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
                throw WeightsFileError("cannot write \(url.path): \(String(cString: strerror(errno))); check that its folder exists and is writable")
            }
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            do {
                try handle.write(contentsOf: data)
                if flush { try handle.synchronize() }
            } catch {
                throw WeightsFileError("cannot write \(url.path): \(reason(error))")
            }
            guard rename(temporary.path, url.path) == 0 else {
                throw WeightsFileError("cannot move the finished file to \(url.path): \(String(cString: strerror(errno)))")
            }
            if flush { try sync(url.deletingLastPathComponent().path) }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// Refuses a destination that cannot be written, before the work that would fill it: a missing or
    /// read-only folder, or a folder where a file should go.
    public static func checkWritable(_ path: String) throws {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw WeightsFileError("\(path) is a folder; name a file to write")
        }
        let folder = url.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw WeightsFileError("cannot write \(path): the folder \(folder) does not exist")
        }
        guard access(folder, W_OK) == 0 else {
            throw WeightsFileError("cannot write \(path): \(String(cString: strerror(errno))) (folder \(folder))")
        }
    }

    public static func write(_ text: String, to url: URL) throws {
        try write(Data(text.utf8), to: url)
    }

    /// Flushes a file's (or a folder's, after a rename in it) contents to the disk.
    static func sync(_ path: String) throws {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw WeightsFileError("cannot open \(path) to flush it: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            throw WeightsFileError("cannot write \(path) to the disk: \(String(cString: strerror(errno)))")
        }
    }

    /// The system's words for a failed write, not Foundation's error dump.
    private static func reason(_ error: Error) -> String {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        if let code = underlying?.code, underlying?.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(code))) }
        return (error as NSError).localizedDescription
    }
}

/// A weights, checkpoint, array or archive file that cannot be read, fit or written, or weights that
/// cannot be fetched.
public struct WeightsFileError: UserFacingError, Equatable {
    public enum Kind: Sendable, Equatable {
        case other
        /// The path names no readable file.
        case missing
        /// The file is not HDF5 (another format, or a truncated download).
        case notHDF5
        /// The file's layers do not fit the model's because one has the ImageNet classifier and the other not.
        case classifierMismatch(fileHasClassifier: Bool)
        /// Weights that could not be downloaded or verified; a local file can stand in.
        case unavailable
        /// Foreign weights whose names fit another architecture (its raw name) better than the one asked for.
        case fitsOtherArchitecture(String)
        /// Foreign weights without the classifier that a conversion with the top needs.
        case noClassifier
        /// A file of another framework than the one named for it.
        case otherFramework
    }
    public let kind: Kind
    public let description: String
    public init(_ description: String, kind: Kind = .other) { (self.description, self.kind) = (description, kind) }
}
