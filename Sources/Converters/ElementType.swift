import Core

/// The element types weight files store; floating-point ones are widened to float32, the others
/// (BatchNorm's `num_batches_tracked` counter, masks) are never weights.
public enum ElementType: String, Sendable, CaseIterable {
    case float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool

    /// The type a PyTorch storage global names (`torch.FloatStorage`, …).
    init?(storage: String) {
        let names: [String: ElementType] = [
            "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16, "DoubleStorage": .float64,
            "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
            "ByteStorage": .uint8, "BoolStorage": .bool,
        ]
        guard let type = names[storage] else { return nil }
        self = type
    }

    /// The type a safetensors header names (`F32`, `BF16`, …).
    init?(safetensors: String) {
        let names: [String: ElementType] = [
            "F32": .float32, "F16": .float16, "BF16": .bfloat16, "F64": .float64,
            "I64": .int64, "I32": .int32, "I16": .int16, "I8": .int8, "U8": .uint8, "BOOL": .bool,
        ]
        guard let type = names[safetensors] else { return nil }
        self = type
    }

    var byteWidth: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .float16, .bfloat16, .int16: 2
        case .int8, .uint8, .bool: 1
        }
    }

    /// Whether the values are floating point, the only kind a weight can be.
    public var isFloat: Bool { [.float32, .float16, .bfloat16, .float64].contains(self) }

    /// `count` little-endian values of this (floating-point) type from the start of `bytes`, as float32.
    func floats(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
        precondition(isFloat && bytes.count >= count * byteWidth, "only floating-point values that are there are decoded")
        switch self {
        case .float32: return (0..<count).map { Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        case .float16: return (0..<count).map { Self.half(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
        case .bfloat16: return (0..<count).map { Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) << 16) }
        default: return (0..<count).map { Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self)))) }
        }
    }

    /// IEEE half precision to float32, exactly (Swift's Float16 is missing on Intel Macs).
    static func half(_ bits: UInt16) -> Float {
        let sign: Float = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int(bits >> 10 & 0x1f), fraction = Float(bits & 0x3ff)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24
        case 31: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }
}
