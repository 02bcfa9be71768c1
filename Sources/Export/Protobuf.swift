import Foundation

/// The bytes of one protobuf message, written field by field (wire format only: no schema, no reflection).
/// Fields are written in the order they are added, so equal calls give equal bytes.
struct ProtobufMessage {
    private(set) var bytes: [UInt8] = []

    private enum WireType: UInt64 {
        case varint = 0, fixed32 = 5, lengthDelimited = 2
    }

    private mutating func key(_ field: Int, _ type: WireType) {
        appendVarint(UInt64(field) << 3 | type.rawValue)
    }

    private mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// An int64 or enum field (negative values take ten bytes, as protobuf's two's complement varint).
    mutating func int(_ field: Int, _ value: Int) {
        key(field, .varint)
        appendVarint(UInt64(bitPattern: Int64(value)))
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, .fixed32)
        bytes.append(littleEndian: value.bitPattern)
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        key(field, .lengthDelimited)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ field: Int, _ value: String) {
        bytes(field, Array(value.utf8))
    }

    mutating func message(_ field: Int, _ value: ProtobufMessage) {
        bytes(field, value.bytes)
    }
}
