import Core
import Foundation
import KerasFiles

/// Hugging Face's safetensors files (timm's `model.safetensors`): an 8-byte little-endian header length,
/// a JSON header giving each tensor's dtype, shape and byte range, then the raw little-endian data.
public enum SafeTensors {
    /// The reference implementation refuses headers over 100 MB; real ones are tens of kilobytes.
    static let headerLimit = 100_000_000

    /// The file's float tensors, in the order of their data, and its `__metadata__`.
    public static func read(_ path: String) throws -> (weights: ForeignWeights, metadata: [String: String]) {
        let file = try ReadOnlyFile(path)
        let size = file.size
        let prefix = try file.read(at: 0, count: 8, what: "its header length")
        let declared = prefix.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard declared <= UInt64(min(headerLimit, size - 8)) else {
            throw WeightsFileError("\(path) declares a \(declared)-byte safetensors header in a \(size)-byte file; the file is truncated, damaged or not safetensors")
        }
        let headerLength = Int(declared)
        let header = try Header(try file.read(at: 8, count: headerLength, what: "its header"), path: path)
        let dataStart = 8 + headerLength
        var weights = ForeignWeights(source: path)
        var end = 0
        for entry in header.entries {
            let described = "\(path): tensor '\(entry.name)'"
            guard entry.begin >= end else {
                throw WeightsFileError("\(described) overlaps another tensor's bytes (\(entry.begin)..<\(entry.end)); the file is damaged or hostile")
            }
            guard entry.end <= size - dataStart else {
                throw WeightsFileError("\(described) ends at byte \(entry.end) of a data section of \(size - dataStart) bytes; the file is truncated")
            }
            end = entry.end
            guard entry.type.isFloat else {
                try weights.skip(entry.name)
                continue
            }
            let count = try ForeignTensor.elementCount(entry.shape, described: described)
            guard count * entry.type.byteWidth == entry.end - entry.begin else {
                throw WeightsFileError("\(described) has shape \(entry.shape) of \(entry.type.rawValue) (\(count * entry.type.byteWidth) bytes) but \(entry.end - entry.begin) bytes of data; the file is damaged")
            }
            let raw = try file.read(at: dataStart + entry.begin, count: entry.end - entry.begin, what: "tensor '\(entry.name)'")
            let values = raw.withUnsafeBytes { entry.type.floats($0, count: count) }
            try weights.add(entry.name, try ForeignTensor(shape: entry.shape, values: values).finite(described))
        }
        return (weights, header.metadata)
    }

    /// One tensor's entry in the header.
    struct Entry {
        let name: String
        let type: ElementType
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    /// The parsed JSON header: entries sorted by where their data begins.
    struct Header {
        let entries: [Entry]
        let metadata: [String: String]

        init(_ bytes: [UInt8], path: String) throws {
            guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)), let fields = object as? [String: Any] else {
                throw WeightsFileError("\(path) has a safetensors header that is not a JSON object; the file is damaged or not safetensors")
            }
            var metadata: [String: String] = [:]
            var entries: [Entry] = []
            for (name, value) in fields {
                if name == "__metadata__" {
                    guard let pairs = value as? [String: String] else {
                        throw WeightsFileError("\(path): the safetensors __metadata__ is not a map of strings; the file is damaged")
                    }
                    metadata = pairs
                    continue
                }
                entries.append(try Self.entry(printable(name), value, path: path))
            }
            self.entries = entries.sorted { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
            self.metadata = metadata
        }

        private static func entry(_ name: String, _ value: Any, path: String) throws -> Entry {
            let described = "\(path): tensor '\(name)'"
            guard let fields = value as? [String: Any], let dtype = fields["dtype"] as? String,
                  let shape = integers(fields["shape"]), let offsets = integers(fields["data_offsets"]), offsets.count == 2 else {
                throw WeightsFileError("\(described) lacks a dtype, shape or data_offsets pair in the header; the file is damaged")
            }
            guard let type = ElementType(safetensors: dtype) else {
                throw WeightsFileError("\(described) holds \(dtype) values; only F32, F16, BF16, F64 and integer tensors are read")
            }
            guard shape.allSatisfy({ $0 >= 0 }), shape.count <= 8, offsets[0] >= 0, offsets[0] <= offsets[1] else {
                throw WeightsFileError("\(described) declares shape \(shape) at bytes \(offsets[0])..<\(offsets[1]), which no tensor has; the file is damaged")
            }
            return Entry(name: name, type: type, shape: shape, begin: offsets[0], end: offsets[1])
        }

        /// A JSON array of whole numbers, nil for anything else (fractions, strings, values beyond Int).
        private static func integers(_ value: Any?) -> [Int]? {
            guard let numbers = value as? [NSNumber] else { return nil }
            var integers: [Int] = []
            for number in numbers {
                guard let integer = Int(exactly: number.doubleValue) else { return nil }
                integers.append(integer)
            }
            return integers
        }
    }
}
