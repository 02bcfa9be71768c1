import Core
import Foundation

/// A zip archive read in place, for `.npz` arrays, `torch.save` checkpoints and `.keras` archives.
/// Every size and offset the archive declares is a claim checked against the file before anything is
/// read or allocated; members are only ever returned as bytes, never written to disk under their names.
/// Not Sendable: it reads through one file handle.
public final class ZipArchive {
    /// One member, as the central directory describes it.
    public struct Entry: Sendable {
        public let name: String
        public let uncompressedSize: Int
        let compressedSize: Int
        let method: UInt16
        let crc: UInt32
        let localHeaderOffset: Int

        var isCompressed: Bool { method != 0 }
    }

    public var path: String { file.path }
    public let entries: [Entry]
    private let file: ReadOnlyFile
    private let index: [String: Int]

    /// More members than any checkpoint or data set archive holds (a timm checkpoint has a few thousand).
    static let entryLimit = 200_000
    static let nameLimit = 4096

    public init(_ path: String) throws {
        file = try ReadOnlyFile(path)
        let directory = try Self.centralDirectory(file)
        let entries = try Self.entries(try file.read(at: directory.offset, count: directory.size, what: "its central directory"),
                                       count: directory.count, path: path)
        try Self.checkLayout(entries, directoryOffset: directory.offset, path: path)
        self.entries = entries
        var index: [String: Int] = [:]
        for (position, entry) in entries.enumerated() {
            guard index.updateValue(position, forKey: entry.name) == nil else {
                throw WeightsFileError("\(path) holds the member '\(entry.name)' twice; the archive is damaged or hostile")
            }
        }
        self.index = index
    }

    public subscript(name: String) -> Entry? { index[name].map { entries[$0] } }

    /// A member's bytes, inflated and CRC-checked; refused when it declares more than `maximumSize` bytes
    /// or, compressed, more than `InflationBound` allows: what a member claims is allocated only once
    /// the file could plausibly hold it.
    public func read(_ entry: Entry, maximumSize: Int = .max) throws -> [UInt8] {
        let member = "\(path):\(entry.name)"
        guard entry.uncompressedSize <= maximumSize else {
            throw WeightsFileError("\(member) declares \(entry.uncompressedSize) bytes, more than the \(maximumSize) such a member can hold; the archive is damaged or hostile")
        }
        if entry.isCompressed {
            try InflationBound.check(declared: entry.uncompressedSize, compressed: entry.compressedSize, name: member)
        }
        let header = try file.read(at: entry.localHeaderOffset, count: 30, what: "the local header of '\(entry.name)'")
        guard Self.uint32(header, 0) == 0x0403_4b50 else {
            throw WeightsFileError("\(member) has no local header where the central directory points; the archive is damaged")
        }
        let dataStart = entry.localHeaderOffset + 30 + Int(Self.uint16(header, 26)) + Int(Self.uint16(header, 28))
        let stored = try file.read(at: dataStart, count: entry.compressedSize, what: "member '\(entry.name)'")
        let bytes: [UInt8]
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw WeightsFileError("\(member) is stored uncompressed but declares \(entry.compressedSize) stored and \(entry.uncompressedSize) actual bytes; the archive is damaged")
            }
            bytes = stored
        case 8:
            bytes = try Zlib.inflate(stored, size: entry.uncompressedSize, member: member)
        default:
            throw WeightsFileError("\(member) uses zip compression method \(entry.method); only stored and deflated members are read")
        }
        guard Zlib.crc32(bytes) == entry.crc else { throw WeightsFileError("\(member) fails its CRC check; the archive is damaged") }
        return bytes
    }

    // MARK: the central directory

    private struct Directory {
        let offset: Int, size: Int, count: Int
    }

    /// The end-of-central-directory record (and its ZIP64 form, which `torch.save` writes for big files).
    private static func centralDirectory(_ file: ReadOnlyFile) throws -> Directory {
        let (path, size) = (file.path, file.size)
        let notZip = WeightsFileError("\(path) is not a zip archive (or is truncated: its end-of-archive record is missing)")
        guard size >= 22 else { throw notZip }
        let tailStart = max(0, size - 22 - 0xffff)
        let tail = try file.read(at: tailStart, count: size - tailStart, what: "its end")
        // The record is the last signature whose comment reaches exactly the end of the file.
        guard let at = stride(from: tail.count - 22, through: 0, by: -1).first(where: {
            uint32(tail, $0) == 0x0605_4b50 && $0 + 22 + Int(uint16(tail, $0 + 20)) == tail.count
        }) else { throw notZip }
        var count = Int(uint16(tail, at + 10))
        var directorySize = Int(uint32(tail, at + 12))
        var offset = Int(uint32(tail, at + 16))
        if count == 0xffff || directorySize == 0xffff_ffff || offset == 0xffff_ffff {
            let locatorAt = tailStart + at - 20
            guard locatorAt >= 0 else { throw WeightsFileError("\(path) declares ZIP64 sizes but has no ZIP64 locator; the archive is damaged") }
            let locator = try file.read(at: locatorAt, count: 20, what: "its ZIP64 locator")
            guard uint32(locator, 0) == 0x0706_4b50, let recordAt = Int(exactly: uint64(locator, 8)) else {
                throw WeightsFileError("\(path) declares ZIP64 sizes but has no ZIP64 locator; the archive is damaged")
            }
            let record = try file.read(at: recordAt, count: 56, what: "its ZIP64 end record")
            guard uint32(record, 0) == 0x0606_4b50 else {
                throw WeightsFileError("\(path): the ZIP64 end record is not where its locator points; the archive is damaged")
            }
            count = Int(clamping: uint64(record, 32))
            directorySize = Int(clamping: uint64(record, 40))
            offset = Int(clamping: uint64(record, 48))
        }
        guard count <= entryLimit else {
            throw WeightsFileError("\(path) declares \(count) members, more than any archive we read holds; the archive is damaged or hostile")
        }
        guard offset <= size, directorySize <= size - offset, directorySize >= 46 * count else {
            throw WeightsFileError("\(path) declares a central directory of \(directorySize) bytes at offset \(offset) in a \(size)-byte file; the archive is truncated or damaged")
        }
        return Directory(offset: offset, size: directorySize, count: count)
    }

    private static func entries(_ directory: [UInt8], count: Int, path: String) throws -> [Entry] {
        var entries: [Entry] = []
        var at = 0
        for _ in 0..<count {
            let damaged = WeightsFileError("\(path): central directory entry \(entries.count + 1) of \(count) is damaged")
            guard at + 46 <= directory.count, uint32(directory, at) == 0x0201_4b50 else { throw damaged }
            let flags = uint16(directory, at + 8)
            let nameLength = Int(uint16(directory, at + 28)), extraLength = Int(uint16(directory, at + 30))
            let commentLength = Int(uint16(directory, at + 32))
            let next = at + 46 + nameLength + extraLength + commentLength
            guard nameLength <= nameLimit, next <= directory.count else { throw damaged }
            let name = printable(String(decoding: directory[(at + 46)..<(at + 46 + nameLength)], as: UTF8.self))
            guard flags & 1 == 0 else { throw WeightsFileError("\(path): member '\(name)' is encrypted; encrypted archives are not read") }
            var uncompressed = UInt64(uint32(directory, at + 24)), compressed = UInt64(uint32(directory, at + 20))
            var offset = UInt64(uint32(directory, at + 42))
            // ZIP64 extra field: the 64-bit values of exactly those fields that are 0xffffffff, in this order.
            var field = at + 46 + nameLength
            let extraEnd = field + extraLength
            while field + 4 <= extraEnd {
                let id = uint16(directory, field), size = Int(uint16(directory, field + 2))
                let fieldEnd = field + 4 + size
                guard fieldEnd <= extraEnd else { throw damaged }
                var value = field + 4
                func wide(_ declared: inout UInt64) throws {
                    guard id == 1, declared == 0xffff_ffff else { return }
                    guard value + 8 <= fieldEnd else { throw damaged }
                    declared = uint64(directory, value)
                    value += 8
                }
                try wide(&uncompressed)
                try wide(&compressed)
                try wide(&offset)
                field = fieldEnd
            }
            guard let uncompressedSize = Int(exactly: uncompressed), let compressedSize = Int(exactly: compressed),
                  let localHeaderOffset = Int(exactly: offset) else {
                throw WeightsFileError("\(path): member '\(name)' declares sizes beyond any file; the archive is damaged or hostile")
            }
            entries.append(Entry(name: name, uncompressedSize: uncompressedSize, compressedSize: compressedSize,
                                 method: uint16(directory, at + 10), crc: uint32(directory, at + 16),
                                 localHeaderOffset: localHeaderOffset))
            at = next
        }
        return entries
    }

    /// Each member's local header and data must lie before the central directory without overlapping
    /// another member's: overlapping members are how the worst zip bombs multiply themselves.
    private static func checkLayout(_ entries: [Entry], directoryOffset: Int, path: String) throws {
        var end = 0
        for entry in entries.sorted(by: { $0.localHeaderOffset < $1.localHeaderOffset }) {
            // The local header's name and extra field are read later; 30 + name is its least size.
            let start = entry.localHeaderOffset
            let (dataEnd, overflow) = start.addingReportingOverflow(30 + entry.name.utf8.count)
            guard start >= end, !overflow, entry.compressedSize <= directoryOffset - min(dataEnd, directoryOffset),
                  dataEnd + entry.compressedSize <= directoryOffset else {
                throw WeightsFileError("\(path): member '\(entry.name)' overlaps another member or the central directory; the archive is damaged or hostile")
            }
            end = dataEnd + entry.compressedSize
        }
    }

    // MARK: bytes

    static func uint16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
    static func uint32(_ bytes: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
    static func uint64(_ bytes: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
}

/// `text` from a file, fit for a one-line message: control characters (a newline in a member or tensor
/// name would split an error in two, an escape sequence would drive the terminal) shown as `\u{…}`.
public func printable(_ text: String) -> String {
    text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        ? text.unicodeScalars.map { $0.properties.generalCategory == .control ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
        : text
}

/// A file read at offsets the caller computed from the file's own claims: every read is checked
/// against the file's size first, so a lying header costs an error, never an allocation.
public final class ReadOnlyFile {
    public let path: String
    public let size: Int
    private let handle: FileHandle

    public init(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let handle = FileHandle(forReadingAtPath: path) else {
            throw WeightsFileError("cannot read \(path): it does not exist, is a folder or is not readable")
        }
        self.path = path
        self.handle = handle
        size = (try? handle.seekToEnd()).flatMap { Int(exactly: $0) } ?? 0
    }

    deinit { try? handle.close() }

    /// `count` bytes at `offset`; `what` names them when the file is too short to hold them.
    public func read(at offset: Int, count: Int, what: String) throws -> [UInt8] {
        guard offset >= 0, count >= 0, offset <= size, count <= size - offset else {
            throw WeightsFileError("\(path) is too short to hold \(what) (\(count) bytes at byte \(offset) of \(size)); the file is truncated or damaged")
        }
        // Straight into the array: a storage or weights member can be hundreds of megabytes.
        return try [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            while initialized < count {
                let n = pread(handle.fileDescriptor, buffer.baseAddress! + initialized, count - initialized, off_t(offset + initialized))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    throw WeightsFileError(n == 0 ? "\(path) became shorter while it was read" : "cannot read \(path): \(String(cString: strerror(errno)))")
                }
                initialized += n
            }
        }
    }
}
