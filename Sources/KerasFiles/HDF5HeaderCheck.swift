import Core
import Foundation

/// Checks an object's header before libhdf5 loads it, and its attributes before libhdf5 decodes or reads
/// them. libhdf5 1.10 allocates what the file declares before it looks further (all found by fuzzing):
/// - a header block's size (a continuation block of 39 TB: more than AddressSanitizer will allocate),
///   so every block must lie inside the file;
/// - a group's local heap (its link names) by its declared data size, so that must lie inside the file;
/// - a variable-length string by the length stored beside its heap address (four bytes, up to 4 GB),
///   twice, and it copies that much whatever the heap object holds (a `layer_names` entry declaring
///   1.6 GB for a 5-byte name: 3.2 GB touched), or past its buffer when the object is longer. So every
///   string must declare exactly its heap object's size, and an attribute's strings together stay
///   within the limit for attributes.
final class HDF5HeaderCheck {
    private let path: String
    private let superblock: HDF5Superblock
    private let heap: HDF5GlobalHeap
    /// Bytes an attribute may hold, its strings included.
    private let limit: Int
    /// Object headers found sound (a layer's group is asked for several attributes).
    private var sound: Set<UInt64> = []

    init(path: String, superblock: HDF5Superblock, heap: HDF5GlobalHeap, limit: Int) {
        self.path = path
        self.superblock = superblock
        self.heap = heap
        self.limit = limit
    }

    /// Checks the object whose header is at `address` (a file address, as links and libhdf5 give it).
    func verify(objectAt address: UInt64) throws {
        guard !sound.contains(address) else { return }
        try HDF5Mapping.withBytes(path) { file in
            do {
                guard let start = superblock.offset(of: address, in: file.count) else {
                    throw HDF5Damage(problem: "it lies outside the file")
                }
                for message in try HDF5ObjectHeader.messages(at: start, in: file, superblock: superblock) {
                    try check(message)
                }
            } catch let damage as HDF5Damage {
                throw WeightsFileError("\(path): the object header at address \(address) is damaged (\(damage.problem)); the file cannot be read safely")
            }
        }
        sound.insert(address)
    }

    private func check(_ message: HDF5Message) throws {
        switch message.type {
        case HDF5Message.attributeInfo:
            // Attributes in dense storage live in a fractal heap that this check does not read.
            let body = message.body
            let flags = try body.byte(at: body.range.lowerBound + 1)
            let heapAddress = try body.number(at: body.range.lowerBound + 2 + (flags & 1 != 0 ? 2 : 0), bytes: superblock.sizeOfOffsets)
            guard heapAddress == superblock.undefinedAddress else {
                throw WeightsFileError("\(path) keeps attributes in dense storage (a fractal heap), which no Keras file does; it is refused")
            }
        case HDF5Message.symbolTable:
            try checkLocalHeap(at: try message.body.number(at: message.body.range.lowerBound + superblock.sizeOfOffsets,
                                                           bytes: superblock.sizeOfOffsets), in: message.body.file)
        case HDF5Message.attribute:
            guard message.flags & HDF5Message.sharedFlag == 0 else {
                throw WeightsFileError("\(path) keeps an attribute in its shared message table, which no Keras file does; it is refused")
            }
            let attribute = try HDF5Attribute(message.body, superblock: superblock)
            guard !attribute.isShared else {
                throw WeightsFileError("\(path): attribute '\(attribute.name)' uses a shared type or shape, which no Keras file does; it is refused")
            }
            try check(attribute)
        default:
            break
        }
    }

    /// A local heap: "HEAP", version, 3 reserved bytes, data size, free list offset, data address. libhdf5
    /// fails cleanly on a missing signature, so only the data's place is checked.
    private func checkLocalHeap(at address: UInt64, in file: UnsafeRawBufferPointer) throws {
        let whole = HDF5Span(file: file, range: 0..<file.count, name: "the file")
        let lengths = superblock.sizeOfLengths
        guard let start = superblock.offset(of: address, in: file.count),
              try whole.part(from: start, count: 4, name: "a local heap").range.map({ file[$0] }) == Array("HEAP".utf8) else { return }
        let size = try whole.number(at: start + 8, bytes: lengths)
        let data = try whole.number(at: start + 8 + 2 * lengths, bytes: superblock.sizeOfOffsets)
        guard let dataStart = superblock.offset(of: data, in: file.count), size <= UInt64(file.count - dataStart) else {
            throw HDF5Damage(problem: "its group's link names declare \(size) bytes at address \(data), beyond the end of the file")
        }
    }

    private func check(_ attribute: HDF5Attribute) throws {
        guard let entries = attribute.entries else { return }
        func damaged(_ problem: String) -> WeightsFileError {
            WeightsFileError("\(path): attribute '\(attribute.name)' is damaged (\(problem)); the file cannot be read safely")
        }
        let offsets = superblock.sizeOfOffsets
        var total = UInt64(0)
        for i in 0..<attribute.count {
            let at = entries.data.range.lowerBound + i * attribute.elementSize
            let length = try entries.data.number(at: at, bytes: 4)
            let address = try entries.data.number(at: at + 4, bytes: offsets)
            let index = Int(try entries.data.number(at: at + 4 + offsets, bytes: 4))
            guard address != 0 else { continue }  // an empty (null) entry: libhdf5 reads nothing
            guard let collection = superblock.offset(of: address, in: entries.data.file.count),
                  let stored = heap.size(ofObject: index, inCollectionAt: collection) else {
                throw damaged("entry \(i) points to object \(index) of string storage at address \(address), which the file does not have")
            }
            let declared = length * entries.elementSize
            guard declared == stored else {
                throw damaged("entry \(i) declares \(declared) bytes where the file stores \(stored)")
            }
            total += declared + 1
            guard total <= UInt64(limit) else {
                throw damaged("its entries hold more than \(limit) bytes, far more than any Keras file")
            }
        }
    }
}
