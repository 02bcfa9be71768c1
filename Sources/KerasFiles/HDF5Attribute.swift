import Foundation

/// An attribute message, decoded as far as the check needs: name, element count and size, and for a
/// variable-length type its stored entries.
struct HDF5Attribute {
    /// The entries of a variable-length attribute (each a length, a heap address and an object index)
    /// and the size of one element of the sequence (1 for a string's characters).
    struct Entries {
        let data: HDF5Span
        let elementSize: UInt64
    }

    private static let variableLength = 9
    /// Classes whose size in the file may differ from the declared one (they can hold variable-length
    /// members); their data is left to libhdf5, as nothing here reads them.
    private static let compound = 6, array = 10

    let name: String
    let count: Int
    /// Bytes per element in the file.
    let elementSize: Int
    let entries: Entries?
    /// The type or shape is kept elsewhere (a committed type, a shared message): nothing more is decoded.
    let isShared: Bool

    /// Version 1: version, reserved, name, datatype and dataspace sizes, each part padded to 8 bytes.
    /// Version 2 has flags (shared datatype or dataspace) and no padding; version 3 adds the name's encoding.
    init(_ body: HDF5Span, superblock: HDF5Superblock) throws {
        let start = body.range.lowerBound
        let version = try body.byte(at: start)
        guard (1...3).contains(version) else { throw HDF5Damage(problem: "an attribute of unknown version \(version)") }
        let flags = version >= 2 ? try body.byte(at: start + 1) : 0
        let sizes = try [2, 4, 6].map { try body.number(at: start + $0, bytes: 2) }
        let padded = { (size: UInt64) in version == 1 ? (size + 7) / 8 * 8 : size }
        let nameSpan = try body.part(from: start + 8 + (version == 3 ? 1 : 0), count: sizes[0], name: "an attribute's name")
        name = String(decoding: nameSpan.range.map { body.file[$0] }.prefix { $0 != 0 }, as: UTF8.self)
        let type = try body.part(from: nameSpan.range.lowerBound + Int(padded(sizes[0])), count: sizes[1], name: "the type of attribute '\(name)'")
        let space = try body.part(from: type.range.lowerBound + Int(padded(sizes[1])), count: sizes[2], name: "the shape of attribute '\(name)'")
        isShared = flags & 3 != 0
        guard !isShared else {
            (count, elementSize, entries) = (0, 0, nil)
            return
        }
        count = try Self.count(space, lengths: superblock.sizeOfLengths)
        let typeClass = try type.byte(at: type.range.lowerBound) & 0x0F
        let isVariable = typeClass == Self.variableLength
        elementSize = isVariable ? 4 + superblock.sizeOfOffsets + 4 : Int(try type.number(at: type.range.lowerBound + 4, bytes: 4))
        let dataStart = space.range.lowerBound + Int(padded(sizes[2]))
        guard typeClass != Self.compound, typeClass != Self.array else {
            entries = nil
            return
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: elementSize)
        guard !overflow else { throw HDF5Damage(problem: "attribute '\(name)' declares \(count) values of \(elementSize) bytes") }
        let data = try body.part(from: dataStart, count: UInt64(bytes), name: "the values of attribute '\(name)'")
        // A variable-length type's properties are its base type, a datatype of its own whose size follows its class and flags.
        entries = isVariable ? Entries(data: data, elementSize: try type.number(at: type.range.lowerBound + 12, bytes: 4)) : nil
    }

    /// Elements of a dataspace message: version 1 has 8 bytes before the sizes (rank 0 is a scalar), version 2
    /// has 4 (with its kind: scalar, simple or null).
    private static func count(_ space: HDF5Span, lengths: Int) throws -> Int {
        let start = space.range.lowerBound
        let version = try space.byte(at: start)
        guard version == 1 || version == 2 else { throw HDF5Damage(problem: "a shape of unknown version \(version)") }
        let rank = try space.byte(at: start + 1)
        if version == 2, try space.byte(at: start + 3) == 2 { return 0 }
        var count = 1
        for k in 0..<rank {
            let n = try space.number(at: start + (version == 1 ? 8 : 4) + k * lengths, bytes: lengths)
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(clamping: n))
            guard !overflow else { throw HDF5Damage(problem: "an attribute's shape has more elements than memory") }
            count = product
        }
        return count
    }
}
