import Core
import KerasFiles

/// PyTorch checkpoints as `torch.save` writes them since 1.6: a zip holding `<name>/data.pkl` (the
/// state dict, pickled) and one member per storage, `<name>/data/<key>`. The pickle is read by
/// `RestrictedUnpickler`, so nothing in the file is ever run.
public enum PyTorchCheckpoint {
    /// A state dict's pickle is tens of kilobytes; one of 64 MB would describe millions of tensors.
    static let pickleLimit = 64 << 20
    /// Keys under which training scripts nest the state dict in a bigger checkpoint.
    static let nestingKeys = ["state_dict", "model", "model_state_dict"]

    /// The float tensors of the checkpoint's state dict, by their PyTorch names, in the file's order.
    public static func read(_ path: String) throws -> ForeignWeights {
        try read(ZipArchive(path))
    }

    static func read(_ archive: ZipArchive) throws -> ForeignWeights {
        let path = archive.path
        let pickles = archive.entries.filter { $0.name.hasSuffix("/data.pkl") && $0.name.split(separator: "/").count == 2 }
        guard pickles.count == 1, let pickle = pickles.first else {
            if archive["constants.pkl"] != nil || archive.entries.contains(where: { $0.name.hasSuffix("/constants.pkl") }) {
                throw WeightsFileError("\(path) is a TorchScript archive; save the weights with torch.save(model.state_dict(), path)")
            }
            throw WeightsFileError("\(path) is a zip archive without the one data.pkl a torch.save checkpoint has (it has \(pickles.count)); it is not a PyTorch checkpoint")
        }
        let folder = String(pickle.name.dropLast("data.pkl".count))
        if let order = archive["\(folder)byteorder"] {
            let value = String(decoding: try archive.read(order, maximumSize: 16), as: UTF8.self)
            guard value == "little" else { throw WeightsFileError("\(path) was saved in \(value)-endian byte order; only little-endian checkpoints are read") }
        }
        let document = try RestrictedUnpickler.load(try archive.read(pickle, maximumSize: pickleLimit), name: "\(path):\(pickle.name)")
        let entries = try stateDict(document, path: path)
        var weights = ForeignWeights(source: path)
        var storages = StorageCache(archive: archive, folder: folder)
        for (key, value) in entries {
            guard case .tensor(let reference) = value, reference.storage.type.isFloat else {
                try weights.skip(key)
                continue
            }
            try weights.add(key, try storages.tensor(reference, name: key))
        }
        return weights
    }

    /// The string-keyed entries of the state dict: the deepest dict of tensors along the keys training
    /// scripts nest it under (`state_dict`, `model`, …), so a metric kept as a tensor beside the nested
    /// state dict is not taken for it; the root when it is the state dict.
    static func stateDict(_ document: PickleDocument, path: String) throws -> [(String, PickleValue)] {
        var candidate = document.root
        var found: [(String, PickleValue)]?
        var rootKeys: [String]?
        for _ in 0...nestingKeys.count {
            guard let dict = document.dict(candidate) else { break }
            let entries = dict.keys.compactMap { key -> (String, PickleValue)? in
                guard case .string(let name) = key, let value = dict[key] else { return nil }
                return (printable(name), value)
            }
            rootKeys = rootKeys ?? entries.map(\.0)
            if entries.contains(where: { if case .tensor = $0.1 { true } else { false } }) { found = entries }
            guard let nested = nestingKeys.first(where: { dict[.string($0)].flatMap(document.dict) != nil }) else { break }
            candidate = dict[.string(nested)]!
        }
        guard let found else {
            let keys = rootKeys.map { " (its keys: \($0.prefix(12).joined(separator: ", ")))" } ?? ""
            throw WeightsFileError("\(path) holds no tensors at its top level and none under \(nestingKeys.joined(separator: ", "))\(keys); save the model's state_dict()")
        }
        return found
    }

    /// Storages read from the archive once each (tensors may share one), decoded to float32.
    private struct StorageCache {
        let archive: ZipArchive
        let folder: String
        var decoded: [String: [Float]] = [:]

        mutating func tensor(_ reference: TensorReference, name: String) throws -> ForeignTensor {
            let storage = reference.storage
            let described = "\(archive.path): tensor '\(name)'"
            let values = try decoded[storage.key] ?? read(storage, described: described)
            decoded[storage.key] = values
            return try View(reference, described: described).gather(values).finite(described)
        }

        private func read(_ storage: StorageReference, described: String) throws -> [Float] {
            guard let entry = archive["\(folder)data/\(storage.key)"] else {
                throw WeightsFileError("\(described) refers to storage '\(storage.key)', which the archive does not hold; the file is damaged")
            }
            let (size, overflow) = storage.count.multipliedReportingOverflow(by: storage.type.byteWidth)
            guard !overflow, size == entry.uncompressedSize else {
                throw WeightsFileError("\(described): storage '\(storage.key)' claims \(storage.count) \(storage.type.rawValue) values but holds \(entry.uncompressedSize) bytes; the file is truncated or damaged")
            }
            guard storage.count <= ForeignTensor.elementLimit else {
                throw WeightsFileError("\(described): storage '\(storage.key)' claims \(storage.count) values, more than any layer has; the file is refused")
            }
            let bytes = try archive.read(entry, maximumSize: size)
            return bytes.withUnsafeBytes { storage.type.floats($0, count: storage.count) }
        }
    }

    /// A tensor's place in its storage: offset, shape and strides, checked to stay inside it.
    private struct View {
        let offset: Int
        let shape: [Int]
        let strides: [Int]
        let count: Int
        let described: String

        init(_ reference: TensorReference, described: String) throws {
            offset = reference.offset
            shape = reference.shape
            strides = reference.strides
            self.described = described
            guard offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }), shape.count <= 8 else {
                throw WeightsFileError("\(described) has offset \(offset), shape \(shape) and strides \(strides), which no tensor has; the file is damaged")
            }
            count = try ForeignTensor.elementCount(shape, described: described)
        }

        /// The values in row-major order, each index checked to lie inside the storage.
        func gather(_ storage: [Float]) throws -> ForeignTensor {
            guard count > 0 else { return ForeignTensor(shape: shape, values: []) }
            var last = offset
            for (size, stride) in zip(shape, strides) {
                let (step, overflow) = (size - 1).multipliedReportingOverflow(by: stride)
                let (sum, overflowAgain) = last.addingReportingOverflow(step)
                guard !overflow, !overflowAgain else { last = .max; break }
                last = sum
            }
            guard last < storage.count else {
                throw WeightsFileError("\(described) reaches element \(last) of a storage of \(storage.count); the storage is shorter than its tensor claims, so the file is damaged")
            }
            var contiguous = 1
            let isContiguous = zip(shape, strides).reversed().allSatisfy { size, stride in
                defer { contiguous *= size }
                return size == 1 || stride == contiguous
            }
            if isContiguous {
                return ForeignTensor(shape: shape, values: offset == 0 && count == storage.count ? storage : Array(storage[offset..<(offset + count)]))
            }
            // A transposed or sliced view: walk its indices in row-major order.
            var values: [Float] = []
            values.reserveCapacity(count)
            var index = [Int](repeating: 0, count: shape.count)
            var position = offset
            for _ in 0..<count {
                values.append(storage[position])
                for axis in shape.indices.reversed() {
                    index[axis] += 1
                    position += strides[axis]
                    if index[axis] < shape[axis] { break }
                    position -= strides[axis] * shape[axis]
                    index[axis] = 0
                }
            }
            return ForeignTensor(shape: shape, values: values)
        }
    }
}
