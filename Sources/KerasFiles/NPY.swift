import Core
import Foundation

/// NumPy's `.npy` format for float32 arrays (little-endian, C order), for people coming from numpy.
public enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
    /// numpy's own reader refuses longer headers (`max_header_size`); ours are a few dozen bytes.
    static let largestHeader = 10_000

    public static func read(_ path: String) throws -> Tensor {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WeightsFileError("cannot read \(path): the file does not exist or is not readable")
        }
        return try decode([UInt8](data), name: path)
    }

    /// An array of any of the dtypes data sets use: its dtype (`|u1`, `<i8`, `<f4`, …), shape and raw bytes.
    public struct RawArray: Sendable {
        public let dtype: String
        public let shape: [Int]
        public let bytes: [UInt8]

        /// The values as integers (labels, pixels); nil for a dtype that is not an integer type
        /// or an unsigned 64-bit value beyond `Int.max`.
        public var integers: [Int]? {
            guard let width = Header.integerWidth(dtype) else { return nil }
            let signed = dtype.contains("i")
            var values: [Int] = []
            values.reserveCapacity(bytes.count / width)
            for start in stride(from: 0, to: bytes.count, by: width) {
                var value: UInt64 = 0
                for k in (0..<width).reversed() { value = value << 8 | UInt64(bytes[start + k]) }
                let bits = 8 * UInt64(width)
                if signed {
                    // Sign-extend from the value's own width.
                    values.append(Int(truncatingIfNeeded: bits == 64 ? value : value ^ (1 << (bits - 1)) &- (1 << (bits - 1))))
                } else {
                    guard value <= UInt64(Int.max) else { return nil }
                    values.append(Int(value))
                }
            }
            return values
        }
    }

    /// What an .npy header declares: dtype, shape and where the data starts, with the data's byte count
    /// computed without overflow, so a file can be checked against it before anything is allocated.
    struct Header {
        let descr: String
        let shape: [Int]
        let dataOffset: Int
        let byteCount: Int

        /// Bytes per value of the simple dtypes we read (`<f4`, `|u1`, `<i8`, …).
        var width: Int { Int(descr.filter(\.isNumber)) ?? 0 }

        static func integerWidth(_ dtype: String) -> Int? {
            switch dtype {
            case "|u1", "<u1", "|i1", "<i1": 1
            case "<i2", "<u2": 2
            case "<i4", "<u4": 4
            case "<i8", "<u8": 8
            default: nil
            }
        }

        /// The header at the start of `bytes`; nil while `bytes` is too short to hold all of it.
        init?(_ bytes: some RandomAccessCollection<UInt8>, name: String) throws {
            let bytes = Array(bytes.prefix(12 + NPY.largestHeader))
            guard bytes.count >= 10 else { return nil }
            guard Array(bytes[0..<6]) == NPY.magic else {
                throw WeightsFileError("\(name) is not a .npy file (numpy's np.save writes them)")
            }
            let headerLength: Int, headerStart: Int
            switch bytes[6] {
            case 1:
                headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
                headerStart = 10
            case 2, 3:
                guard bytes.count >= 12 else { return nil }
                headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
                headerStart = 12
            default:
                throw WeightsFileError("\(name) uses .npy format version \(bytes[6]), which is not supported")
            }
            guard headerLength <= NPY.largestHeader else {
                throw WeightsFileError("\(name) has a \(headerLength)-byte .npy header; numpy writes short ones, so the file is damaged or not made by numpy")
            }
            guard bytes.count >= headerStart + headerLength else { return nil }
            let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
            guard let descr = Self.field("descr", in: header)?.replacingOccurrences(of: "'", with: "") else {
                throw WeightsFileError("\(name): .npy header has no dtype")
            }
            guard Self.field("fortran_order", in: header) == "False" else {
                throw WeightsFileError("\(name) is in Fortran order; save it with np.ascontiguousarray(x)")
            }
            guard let shapeText = Self.field("shape", in: header) else { throw WeightsFileError("\(name): .npy header has no shape") }
            self.descr = descr
            shape = try Self.dimensions(shapeText, name: name)
            dataOffset = headerStart + headerLength
            byteCount = try checkedProduct(shape + [Int(descr.filter(\.isNumber)) ?? 0], name: name, what: "values of \(descr)")
        }

        /// The dimensions of a shape tuple like `(60000, 28, 28)` or `(5,)`: each a whole number, 0 or more.
        private static func dimensions(_ text: String, name: String) throws -> [Int] {
            try text.trimmingCharacters(in: CharacterSet(charactersIn: "()")).split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { token in
                    guard let dimension = Int(token), dimension >= 0 else {
                        throw WeightsFileError("\(name) declares shape \(text); every dimension must be a whole number, 0 or more")
                    }
                    return dimension
                }
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

        /// The whole header, or an error naming a file too short to hold it.
        static func complete(_ bytes: some RandomAccessCollection<UInt8>, name: String) throws -> Header {
            guard let header = try Header(bytes, name: name) else { throw WeightsFileError("\(name) is a truncated .npy file") }
            return header
        }
    }

    /// The header and data of an .npy file of any simple dtype.
    public static func decodeRaw(_ bytes: [UInt8], name: String) throws -> RawArray {
        let header = try Header.complete(bytes, name: name)
        guard header.width > 0 else { throw WeightsFileError("\(name) holds \(header.descr) values, which are not supported; save numbers (uint8, integers or float32)") }
        try checkLength(bytes.count, header, name: name)
        return RawArray(dtype: header.descr, shape: header.shape, bytes: Array(bytes[header.dataOffset...]))
    }

    static func decode(_ bytes: [UInt8], name: String) throws -> Tensor {
        let header = try Header.complete(bytes, name: name)
        guard header.descr == "<f4" else {
            throw WeightsFileError("\(name) holds \(header.descr) values; convert it with x.astype('float32') before saving")
        }
        try checkLength(bytes.count, header, name: name)
        let count = header.byteCount / 4
        let values = bytes[header.dataOffset...].withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        return Tensor(shape: header.shape, data: values)
    }

    private static func checkLength(_ length: Int, _ header: Header, name: String) throws {
        guard length - header.dataOffset == header.byteCount else {
            throw WeightsFileError("\(name) declares shape \(header.shape) of \(header.descr), \(header.byteCount) bytes after its header, but has \(length - header.dataOffset); the file is truncated or damaged")
        }
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

/// The product of declared dimensions, or an error naming the file when it overflows: sizes in a
/// file's header are claims to check, never numbers to trust.
public func checkedProduct(_ factors: [Int], name: String, what: String) throws -> Int {
    try factors.reduce(1) { product, factor in
        let (result, overflow) = product.multipliedReportingOverflow(by: factor)
        guard !overflow else {
            throw WeightsFileError("\(name) declares \(factors.dropLast().map(String.init).joined(separator: " x ")) \(what), more than any file can hold; the file is damaged")
        }
        return result
    }
}

/// NumPy's `.npz` archives: named `.npy` arrays in a zip file. Only the arrays asked for are read,
/// each checked against its header and the archive's sizes before its bytes are kept.
public struct NPZ {
    public let path: String
    private let archive: ZipArchive

    public init(_ path: String) throws {
        self.path = path
        archive = try ZipArchive(path)
    }

    /// The names of the arrays in the archive.
    public var names: [String] {
        archive.entries.map(\.name).filter { $0.hasSuffix(".npy") }.map { String($0.dropLast(4)) }.sorted()
    }

    /// The array `name`, or nil when the archive has none by that name.
    public func array(_ name: String) throws -> NPY.RawArray? {
        guard let entry = archive["\(name).npy"] else { return nil }
        return try NPY.decodeRaw(try archive.read(entry), name: "\(path):\(entry.name)")
    }
}
