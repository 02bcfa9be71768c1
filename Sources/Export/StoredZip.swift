import Core
import KerasFiles

/// A zip archive of stored (uncompressed) entries, as Keras writes `.keras` files, with a fixed
/// timestamp (1980-01-01, zip's earliest) so the same entries give the same bytes.
struct StoredZip {
    private(set) var bytes: [UInt8] = []
    private var directory: [UInt8] = []
    private var count = 0

    /// Plain zip (not zip64) counts sizes and offsets in 32 bits.
    static let sizeLimit = Int(UInt32.max)

    mutating func add(_ name: String, _ data: [UInt8]) throws {
        guard bytes.count + data.count + name.utf8.count + 30 < Self.sizeLimit else {
            throw ExportError("the archive would exceed 4 GB, more than a plain zip holds")
        }
        let crc = Zlib.crc32(data)
        let offset = UInt32(bytes.count)
        let name = Array(name.utf8)
        // Fields shared by the local header and the central directory: version needed 2.0, no flags,
        // stored, time 00:00, date 1980-01-01, CRC, sizes, name length, no extra field.
        var common: [UInt8] = []
        for v: UInt16 in [20, 0, 0, 0, 0x21] { common.append(littleEndian: v) }
        for v: UInt32 in [crc, UInt32(data.count), UInt32(data.count)] { common.append(littleEndian: v) }
        for v: UInt16 in [UInt16(name.count), 0] { common.append(littleEndian: v) }

        bytes.append(littleEndian: UInt32(0x0403_4b50))
        bytes += common + name + data

        directory.append(littleEndian: UInt32(0x0201_4b50))
        directory.append(littleEndian: UInt16(20))  // made by: zip 2.0
        directory += common
        for v: UInt16 in [0, 0, 0] { directory.append(littleEndian: v) }  // comment, disk, internal attributes
        for v: UInt32 in [0, offset] { directory.append(littleEndian: v) }  // external attributes, header offset
        directory += name
        count += 1
    }

    /// The archive: the entries, their central directory and its end record.
    func finished() throws -> [UInt8] {
        guard bytes.count + directory.count < Self.sizeLimit, count < Int(UInt16.max) else {
            throw ExportError("the archive would exceed 4 GB, more than a plain zip holds")
        }
        var out = bytes + directory
        out.append(littleEndian: UInt32(0x0605_4b50))
        for v: UInt16 in [0, 0, UInt16(count), UInt16(count)] { out.append(littleEndian: v) }
        for v: UInt32 in [UInt32(directory.count), UInt32(bytes.count)] { out.append(littleEndian: v) }
        out.append(littleEndian: UInt16(0))  // no comment
        return out
    }
}

extension Array where Element == UInt8 {
    mutating func append<T: FixedWidthInteger>(littleEndian value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}
