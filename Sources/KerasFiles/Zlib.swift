import CGzip
import Core
import Foundation

/// zlib, the one place it is called: raw deflate for zip members, CRC-32 for zip entries, and gzip
/// streams (IDX files ship gzipped).
public enum Zlib {
    /// Raw deflate into exactly `size` bytes: a stream that ends early or has more to give is refused.
    static func inflate(_ input: [UInt8], size: Int, member: String) throws -> [UInt8] {
        // One byte of room past the declared size shows a stream that would go on.
        var output = [UInt8](repeating: 0, count: size + 1)
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw WeightsFileError("\(member): zlib could not start")
        }
        defer { inflateEnd(&stream) }
        let status: Int32 = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                var status = Z_OK
                // zlib counts in 32 bits: members over 4 GB go through in slices.
                while status == Z_OK {
                    let consumed = Int(stream.total_in), produced = Int(stream.total_out)
                    stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress.map { $0 + consumed })
                    stream.avail_in = UInt32(min(source.count - consumed, 1 << 30))
                    stream.next_out = target.baseAddress! + produced
                    stream.avail_out = UInt32(min(target.count - produced, 1 << 30))
                    status = CGzip.inflate(&stream, Z_NO_FLUSH)
                    if Int(stream.total_out) > size { return Z_BUF_ERROR }
                }
                return status
            }
        }
        guard status == Z_STREAM_END, Int(stream.total_out) == size else {
            throw WeightsFileError("\(member) does not inflate to the \(size) bytes the archive declares; the archive is damaged or hostile")
        }
        output.removeLast()
        return output
    }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { buffer in
            var crc: uLong = 0
            var at = 0
            while at < buffer.count {
                let slice = min(buffer.count - at, 1 << 30)
                crc = CGzip.crc32(crc, buffer.baseAddress! + at, uInt(slice))
                at += slice
            }
            return UInt32(truncatingIfNeeded: crc)
        }
    }
}

/// A file read through zlib's gzip reader, which passes a plain (not gzipped) file through unchanged.
/// Not Sendable: zlib's reader keeps a position.
public final class GzipFile {
    private let file: gzFile
    public let path: String

    public init(_ path: String) throws {
        guard let file = gzopen(path, "rb") else { throw WeightsFileError("cannot open \(path)") }
        self.file = file
        self.path = path
    }

    deinit { gzclose(file) }

    /// The file is not gzipped: its bytes are read as they are.
    public var isPlain: Bool { gzdirect(file) == 1 }

    /// Up to `count` bytes, fewer only at the end. The buffer grows as data really arrives (a gzipped
    /// header's count is a claim), so a short file never costs what its header declares.
    public func read(_ count: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(count, 1 << 20))
        while bytes.count < count {
            let n = gzread(file, &chunk, UInt32(min(count - bytes.count, chunk.count)))
            if n < 0 { throw WeightsFileError("\(path) is a damaged gzip file") }
            if n == 0 { break }
            bytes += chunk[0..<Int(n)]
        }
        return bytes
    }
}

/// How far a compressed stream may inflate. Real image and label arrays and weights shrink a few times
/// at most; a stream that claims to grow more than 100-fold (Apache POI's zip-bomb ratio) beyond a small
/// allowance is refused before anything is allocated.
public enum InflationBound {
    static let allowance = 64 << 20
    static let ratio = 100

    public static func check(declared: Int, compressed: Int, name: String) throws {
        let limit = max(allowance, compressed.multipliedReportingOverflow(by: ratio).partialValue)
        guard declared <= limit else {
            throw WeightsFileError("\(name) declares \(declared) bytes from \(compressed) compressed bytes, more than \(ratio)-fold; real images and weights never compress that well, so the file is refused as a decompression bomb")
        }
    }
}
