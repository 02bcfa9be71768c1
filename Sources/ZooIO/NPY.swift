import Core
import Foundation
import ZIPFoundation

/// NumPy's `.npy` format for float32 arrays (little-endian, C order), for people coming from numpy.
public enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    public static func read(_ path: String) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError("cannot read \(path): the file does not exist or is not readable")
        }
        return try decode([UInt8](data), name: path)
    }

    /// An array of any of the dtypes data sets use: its dtype (`|u1`, `<i8`, `<f4`, …), shape and raw bytes.
    public struct RawArray: Sendable {
        public let dtype: String
        public let shape: [Int]
        public let bytes: [UInt8]

        /// The values as integers (labels, pixels); nil for a dtype that is not an integer type.
        public var integers: [Int]? {
            let width: Int
            switch dtype {
            case "|u1", "<u1", "|i1": width = 1
            case "<i2", "<u2": width = 2
            case "<i4", "<u4": width = 4
            case "<i8", "<u8": width = 8
            default: return nil
            }
            let signed = dtype.contains("i")
            return stride(from: 0, to: bytes.count, by: width).map { start in
                var value = 0
                for k in (0..<width).reversed() { value = value << 8 | Int(bytes[start + k]) }
                if signed && width < 8 && value >= 1 << (8 * width - 1) { value -= 1 << (8 * width) }
                return value
            }
        }
    }

    /// The header and data of an .npy file of any simple dtype.
    public static func decodeRaw(_ bytes: [UInt8], name: String) throws -> RawArray {
        let (descr, shape, start) = try header(bytes, name: name)
        let width = Int(descr.filter(\.isNumber)) ?? 0
        let count = shape.reduce(1, *)
        guard width > 0, bytes.count - start == count * width else {
            throw ModelError("\(name) should hold \(count) values of \(descr) after its header but has \(bytes.count - start) bytes; the file is truncated")
        }
        return RawArray(dtype: descr, shape: shape, bytes: Array(bytes[start...]))
    }

    static func decode(_ bytes: [UInt8], name: String) throws -> Tensor {
        let (descr, shape, start) = try header(bytes, name: name)
        guard descr == "<f4" else {
            throw ModelError("\(name) holds \(descr) values; convert it with x.astype('float32') before saving")
        }
        let count = shape.reduce(1, *)
        guard bytes.count - start == count * 4 else {
            throw ModelError("\(name) should hold \(count) float32 values after its header but has \(bytes.count - start) bytes; the file is truncated")
        }
        let values = bytes[start...].withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        return Tensor(shape: shape, data: values)
    }

    /// The dtype, shape and data offset of an .npy file (C order only).
    private static func header(_ bytes: [UInt8], name: String) throws -> (descr: String, shape: [Int], start: Int) {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw ModelError("\(name) is not a .npy file (numpy's np.save writes them)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw ModelError("\(name) is a truncated .npy file") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw ModelError("\(name) uses .npy format version \(major), which is not supported")
        }
        guard bytes.count >= headerStart + headerLength else { throw ModelError("\(name) is a truncated .npy file") }
        let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
        guard let descr = field("descr", in: header)?.replacingOccurrences(of: "'", with: "") else {
            throw ModelError("\(name): .npy header has no dtype")
        }
        guard field("fortran_order", in: header) == "False" else {
            throw ModelError("\(name) is in Fortran order; save it with np.ascontiguousarray(x)")
        }
        guard let shapeText = field("shape", in: header) else { throw ModelError("\(name): .npy header has no shape") }
        let shape = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()"))
            .split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return (descr, shape, headerStart + headerLength)
    }

    /// The text of `key`'s value in a Python dict literal header.
    private static func field(_ key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)':") else { return nil }
        let rest = header[keyRange.upperBound...].drop { $0 == " " }
        if rest.first == "(" {
            guard let close = rest.firstIndex(of: ")") else { return nil }
            return String(rest[...close])
        }
        return String(rest.prefix { $0 != "," && $0 != "}" }).trimmingCharacters(in: .whitespaces)
    }

    public static func write(_ tensor: Tensor, to path: String) throws {
        let shape = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(\(tensor.shape.map(String.init).joined(separator: ", ")))"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        // Pad so the data starts on a 64-byte boundary, ending the header with a newline.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var bytes = magic + [1, 0, UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        bytes.reserveCapacity(bytes.count + tensor.count * 4)
        for value in tensor.data {
            let bits = value.bitPattern.littleEndian
            bytes += [UInt8(bits & 0xff), UInt8((bits >> 8) & 0xff), UInt8((bits >> 16) & 0xff), UInt8(bits >> 24)]
        }
        try DurableFile.write(Data(bytes), to: URL(fileURLWithPath: path))
    }
}

/// NumPy's `.npz` archives: named `.npy` arrays in a zip file.
public enum NPZ {
    public static func read(_ path: String) throws -> [String: NPY.RawArray] {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw ModelError("\(path) is not a readable .npz archive (np.savez writes them)")
        }
        var arrays: [String: NPY.RawArray] = [:]
        for entry in archive where entry.path.hasSuffix(".npy") {
            var data = Data()
            _ = try archive.extract(entry) { data.append($0) }
            let name = String(entry.path.dropLast(4))
            arrays[name] = try NPY.decodeRaw([UInt8](data), name: "\(path):\(entry.path)")
        }
        return arrays
    }
}
