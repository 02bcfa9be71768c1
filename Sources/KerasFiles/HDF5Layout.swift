import Core
import Foundation

/// The superblock facts the pre-reading checks need: where the file's addresses start and how wide
/// its stored addresses and sizes are.
struct HDF5Superblock {
    private static let signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Where the superblock is; libhdf5 counts every address from here (a user block may come first).
    let base: Int
    /// Bytes per stored address.
    let sizeOfOffsets: Int
    /// Bytes per stored size.
    let sizeOfLengths: Int
    /// The root group's object header, which libhdf5 loads as it opens the file.
    let rootAddress: UInt64
    /// The superblock extension's object header (versions 2 and 3), also loaded at opening; nil when none.
    let extensionAddress: UInt64?

    /// Looks where HDF5 looks: offset 0, then 512, 1024, 2048, … (`path` names the file in errors).
    init(_ file: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset + 16 <= file.count {
            if zip(Self.signature.indices, Self.signature).allSatisfy({ file[offset + $0] == $1 }) {
                let version = file[offset + 8]
                base = offset
                sizeOfOffsets = Int(version < 2 ? file[offset + 13] : file[offset + 9])
                sizeOfLengths = Int(version < 2 ? file[offset + 14] : file[offset + 10])
                guard (1...8).contains(sizeOfOffsets), (1...8).contains(sizeOfLengths) else {
                    throw WeightsFileError("\(path) uses \(sizeOfOffsets)-byte addresses and \(sizeOfLengths)-byte lengths, which no Keras file does; it is refused")
                }
                // Versions 0 and 1: 24 bytes of fixed fields (28 in version 1), four addresses, then the root
                // group's entry (its name's offset, then its header's address). Versions 2 and 3: 12 bytes, then
                // the base, extension, end-of-file and root header addresses.
                let fields = offset + (version < 2 ? (version == 1 ? 28 : 24) : 12)
                let width = sizeOfOffsets
                // An address cut off by the end of the file reads as one outside it.
                let addresses = (0..<6).map { fields + ($0 + 1) * width <= file.count ? file.littleEndian(at: fields + $0 * width, bytes: width) : .max }
                rootAddress = addresses[version < 2 ? 5 : 3]
                extensionAddress = version < 2 || addresses[1] == Self.undefined(width) ? nil : addresses[1]
                return
            }
            offset = offset == 0 ? 512 : offset * 2
        }
        throw WeightsFileError("\(path) has no HDF5 superblock where one is looked for; the file is damaged")
    }

    /// The all-ones address HDF5 writes for "none".
    var undefinedAddress: UInt64 { Self.undefined(sizeOfOffsets) }

    private static func undefined(_ width: Int) -> UInt64 {
        width == 8 ? .max : (1 << (8 * UInt64(width))) - 1
    }

    /// The file offset of a stored address, or nil when it lies outside a file of `count` bytes.
    func offset(of address: UInt64, in count: Int) -> Int? {
        guard address < UInt64(count), base + Int(address) < count else { return nil }
        return base + Int(address)
    }
}

extension UnsafeRawBufferPointer {
    /// The little-endian unsigned number of `bytes` bytes (at most 8) at `offset`, which the caller has
    /// checked lies inside.
    func littleEndian(at offset: Int, bytes: Int) -> UInt64 {
        (0..<bytes).reduce(UInt64(0)) { $0 | UInt64(self[offset + $1]) << (8 * UInt64($1)) }
    }
}

enum HDF5Mapping {
    /// Runs `body` on the file's bytes, mapped rather than read: weight files reach half a gigabyte.
    static func withBytes<R>(_ path: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        return try data.withUnsafeBytes(body)
    }
}
