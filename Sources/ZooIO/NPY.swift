import Core
import Foundation

/// NumPy's `.npy` format for float32 arrays (little-endian, C order), for people coming from numpy.
public enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    public static func read(_ path: String) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError("cannot read \(path): the file does not exist or is not readable")
        }
        return try decode([UInt8](data), name: path)
    }

    static func decode(_ bytes: [UInt8], name: String) throws -> Tensor {
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
        guard let descr = field("descr", in: header) else { throw ModelError("\(name): .npy header has no dtype") }
        guard descr == "'<f4'" else {
            throw ModelError("\(name) holds \(descr.replacingOccurrences(of: "'", with: "")) values; convert it with x.astype('float32') before saving")
        }
        guard field("fortran_order", in: header) == "False" else {
            throw ModelError("\(name) is in Fortran order; save it with np.ascontiguousarray(x)")
        }
        guard let shapeText = field("shape", in: header) else { throw ModelError("\(name): .npy header has no shape") }
        let shape = shapeText.trimmingCharacters(in: CharacterSet(charactersIn: "()"))
            .split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let count = shape.reduce(1, *)
        let start = headerStart + headerLength
        guard bytes.count - start == count * 4 else {
            throw ModelError("\(name) should hold \(count) float32 values after its header but has \(bytes.count - start) bytes; the file is truncated")
        }
        let values = bytes[start...].withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        return Tensor(shape: shape, data: values)
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
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw ModelError("cannot write \(path); check that its folder exists and is writable")
        }
    }
}
