import Core
import Foundation

/// The global heap collections of an HDF5 file (where variable-length strings, such as Keras' layer
/// names, live), checked before libhdf5 reads them. libhdf5 1.10 trusts each heap object's declared
/// size when it copies the object out, so one flipped bit in a size makes it read gigabytes past its
/// buffer and crash (found by fuzzing). The file format gives each collection's size and each object's
/// size: an object that does not fit inside its collection means a damaged or hostile file.
struct HDF5GlobalHeap {
    private static let signature = Array("GCOL".utf8)

    /// Object sizes by collection (the file offset of its signature) and object index, as libhdf5 would
    /// find them; strings stored elsewhere are refused by `HDF5AttributeCheck`.
    private let collections: [Int: [Int: UInt64]]

    /// The size of object `index` of the collection at file offset `collection`, or nil when there is none.
    func size(ofObject index: Int, inCollectionAt collection: Int) -> UInt64? {
        collections[collection]?[index]
    }

    /// Finds and checks every collection of the mapped file `file` (named `path` in errors).
    init(_ file: UnsafeRawBufferPointer, superblock: HDF5Superblock, path: String) throws {
        let lengths = superblock.sizeOfLengths
        var collections: [Int: [Int: UInt64]] = [:]
        var start = 0
        while let found = Self.find(Self.signature, in: file, from: start) {
            switch Self.read(collectionAt: found, in: file, lengths: lengths) {
            case .notACollection: break
            case .damaged(let problem):
                throw WeightsFileError("\(path): the string storage at byte \(found) is damaged (\(problem)); the file cannot be read safely")
            case .sound(let objects): collections[found] = objects
            }
            start = found + 1
        }
        self.collections = collections
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

    private enum Reading {
        case notACollection
        case damaged(String)
        /// Object sizes by index (the free space, index 0, left out: no string is stored there).
        case sound([Int: UInt64])
    }

    /// The collection at `offset`, read as libhdf5 reads it. libhdf5 checks only the signature and the
    /// version (1) before it trusts the rest, so this does too; "GCOL" and a 1 inside weight data are told
    /// apart by the size, which must fit in the file (a random eight-byte number almost never does, and
    /// libhdf5 fails cleanly on one that does not).
    private static func read(collectionAt offset: Int, in file: UnsafeRawBufferPointer, lengths: Int) -> Reading {
        let header = 8 + lengths
        guard offset + header <= file.count, file[offset + 4] == 1 else { return .notACollection }
        let size = file.littleEndian(at: offset + 8, bytes: lengths)
        guard size <= UInt64(file.count - offset) else { return .notACollection }
        guard size >= UInt64(header) else { return .damaged("a collection of \(size) bytes cannot hold its own header") }
        let end = offset + Int(size)
        let objectHeader = 8 + lengths
        var objects: [Int: UInt64] = [:]
        var p = offset + header
        // As libhdf5 walks it: objects one after another, index 0 being the free space to the end; an
        // index seen twice is the later object's, as in libhdf5's table.
        while p + objectHeader <= end {
            let index = Int(file.littleEndian(at: p, bytes: 2))
            let declared = file.littleEndian(at: p + 8, bytes: lengths)
            let room = UInt64(end - p)
            // Compared before any sum, which a hostile size would overflow.
            guard declared <= room, index == 0 || UInt64(objectHeader) + (declared + 7) / 8 * 8 <= room else {
                return .damaged("object \(index) declares \(declared) bytes in a \(size)-byte collection")
            }
            let need = index == 0 ? declared : UInt64(objectHeader) + (declared + 7) / 8 * 8
            // The free space (index 0) spans the rest, its own header included: libhdf5 steps by its size, so a
            // size of 0 would hold it in place for ever.
            guard need > 0 else { return .damaged("its free space is 0 bytes long") }
            if index != 0 { objects[index] = declared }
            p += Int(need)
        }
        return .sound(objects)
    }
}
