import Foundation

/// A damaged structure found before libhdf5 reads it, in a few words.
struct HDF5Damage: Error {
    let problem: String
}

/// Part of the mapped file (a header block, a message) that reads must stay inside.
struct HDF5Span {
    let file: UnsafeRawBufferPointer
    let range: Range<Int>
    /// What the span is, for the error when a read would leave it.
    let name: String

    func number(at offset: Int, bytes: Int) throws -> UInt64 {
        guard offset >= range.lowerBound, offset <= range.upperBound - bytes else {
            throw HDF5Damage(problem: "\(name) ends before its fields do")
        }
        return file.littleEndian(at: offset, bytes: bytes)
    }

    func byte(at offset: Int) throws -> Int { Int(try number(at: offset, bytes: 1)) }

    /// The part `start..<start + count`, which must lie inside this one.
    func part(from start: Int, count: UInt64, name: String) throws -> HDF5Span {
        guard start >= range.lowerBound, start <= range.upperBound, count <= UInt64(range.upperBound - start) else {
            throw HDF5Damage(problem: "\(name) runs past the end of \(self.name)")
        }
        return HDF5Span(file: file, range: start..<(start + Int(count)), name: name)
    }
}

/// One message of an object header: its type (attribute, continuation, …), flags and body.
struct HDF5Message {
    static let continuation = 0x10
    static let attribute = 0x0C
    static let attributeInfo = 0x15
    static let symbolTable = 0x11
    /// The flag of a message kept in the file's shared message table instead of in place.
    static let sharedFlag = 0x02

    let type: Int
    let flags: Int
    let body: HDF5Span
}

/// The messages of an object header, read as the file format lays them out: a version 1 header
/// (what h5py and Keras write) or a version 2 one ("OHDR"), with its continuation blocks.
enum HDF5ObjectHeader {
    private static let signature = Array("OHDR".utf8)
    private static let continuationSignature = Array("OCHK".utf8)

    static func messages(at start: Int, in file: UnsafeRawBufferPointer, superblock: HDF5Superblock) throws -> [HDF5Message] {
        let whole = HDF5Span(file: file, range: 0..<file.count, name: "the file")
        let version2 = has(signature, at: start, in: file)
        let (first, messageHeader) = try version2 ? firstBlock2(at: start, in: whole) : firstBlock1(at: start, in: whole)
        var pending = [first]
        var messages: [HDF5Message] = []
        // Blocks of a sound header never overlap, so together they are no larger than the file: more means
        // continuations that loop or overlap, and stopping there bounds the walk.
        var walked = 0
        while let block = pending.popLast() {
            walked += block.range.count
            guard walked <= file.count else { throw HDF5Damage(problem: "its continuation blocks loop or overlap") }
            var p = block.range.lowerBound
            while p + messageHeader <= block.range.upperBound {
                let type = version2 ? try block.byte(at: p) : Int(try block.number(at: p, bytes: 2))
                let size = try block.number(at: p + (version2 ? 1 : 2), bytes: 2)
                let flags = try block.byte(at: p + (version2 ? 3 : 4))
                let body = try block.part(from: p + messageHeader, count: size, name: "a message")
                messages.append(HDF5Message(type: type, flags: flags, body: body))
                if type == HDF5Message.continuation {
                    pending.append(try continuationBlock(body, version2: version2, superblock: superblock))
                }
                p = body.range.upperBound
            }
        }
        return messages
    }

    /// Version 1: version, reserved, message count, reference count, block size, 4 bytes of padding;
    /// then messages with 8-byte headers.
    private static func firstBlock1(at start: Int, in whole: HDF5Span) throws -> (HDF5Span, messageHeader: Int) {
        guard try whole.byte(at: start) == 1 else { throw HDF5Damage(problem: "it is no object header of a known version") }
        let size = try whole.number(at: start + 8, bytes: 4)
        return (try whole.part(from: start + 16, count: size, name: "its first block"), 8)
    }

    /// Version 2: "OHDR", version, flags, optional times and attribute thresholds, a block size of 1 to 8
    /// bytes; the block ends with a checksum. Messages have 4-byte headers, 6 with creation order.
    private static func firstBlock2(at start: Int, in whole: HDF5Span) throws -> (HDF5Span, messageHeader: Int) {
        guard try whole.byte(at: start + 4) == 2 else { throw HDF5Damage(problem: "it is no object header of a known version") }
        let flags = try whole.byte(at: start + 5)
        let width = 1 << (flags & 3)
        let sizeAt = start + 6 + (flags & 0x20 != 0 ? 16 : 0) + (flags & 0x10 != 0 ? 4 : 0)
        let size = try whole.number(at: sizeAt, bytes: width)
        return (try whole.part(from: sizeAt + width, count: size, name: "its first block"), flags & 0x04 != 0 ? 6 : 4)
    }

    /// The block a continuation message points to: its messages only (version 2 blocks open with "OCHK"
    /// and end with a checksum).
    private static func continuationBlock(_ message: HDF5Span, version2: Bool, superblock: HDF5Superblock) throws -> HDF5Span {
        let address = try message.number(at: message.range.lowerBound, bytes: superblock.sizeOfOffsets)
        let length = try message.number(at: message.range.lowerBound + superblock.sizeOfOffsets, bytes: superblock.sizeOfLengths)
        let whole = HDF5Span(file: message.file, range: 0..<message.file.count, name: "the file")
        guard let offset = superblock.offset(of: address, in: message.file.count) else {
            throw HDF5Damage(problem: "a continuation block lies outside the file")
        }
        guard version2 else { return try whole.part(from: offset, count: length, name: "a continuation block") }
        guard length >= 8, has(continuationSignature, at: offset, in: message.file) else {
            throw HDF5Damage(problem: "a continuation block lacks its signature")
        }
        return try whole.part(from: offset + 4, count: length - 8, name: "a continuation block")
    }

    private static func has(_ signature: [UInt8], at offset: Int, in file: UnsafeRawBufferPointer) -> Bool {
        offset >= 0 && offset + signature.count <= file.count && signature.indices.allSatisfy { file[offset + $0] == signature[$0] }
    }
}
