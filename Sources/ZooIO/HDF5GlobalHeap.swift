import Core
import Foundation

/// Checks the global heap collections of an HDF5 file (where variable-length strings, such as Keras'
/// layer names, live) before libhdf5 reads them. libhdf5 1.10 trusts each heap object's declared size
/// when it copies the object out, so one flipped bit in a size makes it read gigabytes past its buffer
/// and crash (found by fuzzing). The file format gives each collection's size and each object's size:
/// an object that does not fit inside its collection means a damaged or hostile file.
enum HDF5GlobalHeap {
    private static let superblockSignature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0D, 0x0A, 0x1A, 0x0A]
    private static let collectionSignature = Array("GCOL".utf8)

    static func verify(_ path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        try data.withUnsafeBytes { (file: UnsafeRawBufferPointer) in
            guard let lengths = sizeOfLengths(file) else { return }  // libhdf5 itself refuses what has no superblock
            guard (1...8).contains(lengths) else {
                throw ModelError("\(path) uses \(lengths)-byte lengths, which no Keras file does; it is refused")
            }
            var start = 0
            while let found = find(collectionSignature, in: file, from: start) {
                if let problem = check(collectionAt: found, in: file, lengths: lengths) {
                    throw ModelError("\(path): the string storage at byte \(found) is damaged (\(problem)); the file cannot be read safely")
                }
                start = found + 1
            }
        }
    }

    /// The superblock's size of lengths (bytes per stored size), found where HDF5 looks for it:
    /// offset 0, then 512, 1024, 2048, … (a user block may come first).
    private static func sizeOfLengths(_ file: UnsafeRawBufferPointer) -> Int? {
        var offset = 0
        while offset + 16 <= file.count {
            if zip(superblockSignature.indices, superblockSignature).allSatisfy({ file[offset + $0] == $1 }) {
                let version = file[offset + 8]
                return Int(version < 2 ? file[offset + 14] : file[offset + 10])
            }
            offset = offset == 0 ? 512 : offset * 2
        }
        return nil
    }

    /// The next offset of `needle` from `start`: memchr (vectorised in glibc) finds its first byte.
    private static func find(_ needle: [UInt8], in file: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let base = file.baseAddress else { return nil }
        var offset = start
        while offset + needle.count <= file.count {
            guard let hit = memchr(base + offset, Int32(needle[0]), file.count - offset) else { return nil }
            let found = base.distance(to: UnsafeRawPointer(hit))
            guard found + needle.count <= file.count else { return nil }
            if needle.indices.allSatisfy({ file[found + $0] == needle[$0] }) { return found }
            offset = found + 1
        }
        return nil
    }

    private static func number(_ file: UnsafeRawBufferPointer, at offset: Int, bytes: Int) -> UInt64 {
        (0..<bytes).reduce(UInt64(0)) { $0 | UInt64(file[offset + $1]) << (8 * UInt64($1)) }
    }

    /// What is wrong with the collection at `offset`, or nil when it is sound or is not a collection at all.
    /// libhdf5 checks only the signature and the version (1) before it trusts the rest, so this does too;
    /// "GCOL" and a 1 inside weight data are told apart by the size, which must fit in the file (a random
    /// eight-byte number almost never does, and libhdf5 fails cleanly on one that does not).
    private static func check(collectionAt offset: Int, in file: UnsafeRawBufferPointer, lengths: Int) -> String? {
        let header = 8 + lengths
        guard offset + header <= file.count, file[offset + 4] == 1 else { return nil }
        let size = number(file, at: offset + 8, bytes: lengths)
        guard size <= UInt64(file.count - offset) else { return nil }
        guard size >= UInt64(header) else { return "a collection of \(size) bytes cannot hold its own header" }
        let end = offset + Int(size)
        let objectHeader = 8 + lengths
        var p = offset + header
        // As libhdf5 walks it: objects one after another, index 0 being the free space to the end.
        while p + objectHeader <= end {
            let index = number(file, at: p, bytes: 2)
            let declared = number(file, at: p + 8, bytes: lengths)
            let room = UInt64(end - p)
            // Compared before any sum, which a hostile size would overflow.
            guard declared <= room, index == 0 || UInt64(objectHeader) + (declared + 7) / 8 * 8 <= room else {
                return "object \(index) declares \(declared) bytes in a \(size)-byte collection"
            }
            let need = index == 0 ? declared : UInt64(objectHeader) + (declared + 7) / 8 * 8
            // The free space (index 0) spans the rest, its own header included: libhdf5 steps by its size, so a
            // size of 0 would hold it in place for ever.
            guard need > 0 else { return "its free space is 0 bytes long" }
            p += Int(need)
        }
        return nil
    }
}
