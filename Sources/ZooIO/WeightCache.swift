import Core
import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Zoo

/// Downloads published weight files into a cache folder and verifies them against the manifest's hashes.
public struct WeightCache: Sendable {
    public let directory: URL

    /// `$FINETUNE_CACHE`, else `$XDG_CACHE_HOME/finetune/models`, else `~/.cache/finetune/models`.
    public static var defaultDirectory: URL {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["FINETUNE_CACHE"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        let base = env["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("finetune/models")
    }

    /// Where published files come from: the manifest's base, or `$FINETUNE_WEIGHTS_BASE` (mirrors, tests).
    public static var baseURL: String {
        ProcessInfo.processInfo.environment["FINETUNE_WEIGHTS_BASE"] ?? Manifest.shared.weightsBase
    }

    public init(directory: URL = WeightCache.defaultDirectory) {
        self.directory = directory
    }

    public func path(for file: Manifest.WeightFile) -> URL { directory.appendingPathComponent(file.fileName) }

    /// The verified cached file, downloading it first if needed. A cached file that fails
    /// its hash is replaced; a failed download leaves nothing behind.
    public func fetch(_ file: Manifest.WeightFile, from base: String = WeightCache.baseURL,
                      progress: (String) -> Void = { _ in }) throws -> URL {
        let target = path(for: file)
        if FileManager.default.fileExists(atPath: target.path) {
            if try md5(of: target) == file.md5 {
                progress("\(target.path) is cached and verified (md5 \(file.md5))")
                return target
            }
            progress("\(target.path) fails its md5 check; downloading it again")
        }
        guard let url = URL(string: base + file.path) else { throw ModelError("bad weights URL \(base + file.path)") }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let partial = directory.appendingPathComponent(".\(file.fileName).\(ProcessInfo.processInfo.processIdentifier).part")
        defer { try? FileManager.default.removeItem(at: partial) }
        progress("downloading \(url.absoluteString)")
        try download(url, to: partial, fileName: file.fileName)
        let digest = try md5(of: partial)
        guard digest == file.md5 else {
            throw ModelError("the download of \(url.absoluteString) has md5 \(digest), expected \(file.md5); nothing was cached. Try again, or pass a verified local file with --weights PATH")
        }
        guard rename(partial.path, target.path) == 0 else {
            throw ModelError("cannot move the download into \(target.path): \(String(cString: strerror(errno)))")
        }
        progress("saved \(target.path) (md5 verified)")
        return target
    }

    /// Streams `url` into `destination`; a refused connection, an HTTP error or a short body is an error.
    private func download(_ url: URL, to destination: URL, fileName: String) throws {
        final class Outcome: @unchecked Sendable { var error: Error? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let task = URLSession.shared.downloadTask(with: url) { location, response, error in
            defer { done.signal() }
            if let error {
                outcome.error = error
                return
            }
            if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
                outcome.error = ModelError("\(url.absoluteString) answered HTTP \(http.statusCode)")
                return
            }
            guard let location else { outcome.error = ModelError("\(url.absoluteString): empty response"); return }
            do {
                let expected = response?.expectedContentLength ?? -1
                let size = (try FileManager.default.attributesOfItem(atPath: location.path)[.size] as? NSNumber)?.int64Value ?? 0
                if expected >= 0 && size != expected {
                    throw ModelError("the download of \(url.absoluteString) stopped after \(size) of \(expected) bytes; nothing was cached, try again")
                }
                try? FileManager.default.removeItem(at: destination)
                try FileManager.default.moveItem(at: location, to: destination)
            } catch {
                outcome.error = error
            }
        }
        task.resume()
        done.wait()
        guard let error = outcome.error else { return }
        if let modelError = error as? ModelError { throw modelError }
        let host = url.host ?? url.absoluteString
        throw ModelError("cannot download \(fileName) from \(host) (\(error.localizedDescription)); this machine may be offline. Download it elsewhere and pass it with --weights PATH, or copy it to \(path(forName: fileName).path)")
    }

    private func path(forName name: String) -> URL { directory.appendingPathComponent(name) }
}

/// The hex MD5 of a file, read in chunks (Keras publishes MD5s for its weight files).
public func md5(of url: URL) throws -> String {
    guard let handle = try? FileHandle(forReadingFrom: url) else {
        throw ModelError("cannot read \(url.path): the file does not exist or is not readable")
    }
    defer { try? handle.close() }
    var hasher = Insecure.MD5()
    while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty { hasher.update(data: chunk) }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}
