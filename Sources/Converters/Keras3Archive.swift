import Core
import Foundation
import KerasFiles

/// One layer of a `.keras` archive's model as its config.json describes it, for telling a fine-tuned
/// head (a Dense on the pooled features) from the base.
public struct KerasLayer: Sendable, Equatable {
    public let name: String
    public let className: String
    /// The layers whose outputs this one takes (for a Sequential model, the layer before it).
    public let inputs: [String]
    /// The nested model this layer belongs to (the base inside a fine-tuned model), nil at the top.
    public let parent: String?
    public let units: Int?
    public let activation: String?
}

/// Keras 3 files: `.keras` archives (config.json, metadata.json and model.weights.h5 in a zip) and bare
/// `.weights.h5` files. Their variables are keyed by class and position (`layers/conv2d_3/vars/0`);
/// they come out named as Keras names them, `<layer>/<weight>` (`conv1_conv/kernel`).
enum Keras3Archive {
    /// A config.json describing 313 layers is about 1 MB.
    static let configLimit = 64 << 20
    static let nestingLimit = 4

    static func read(_ archive: ZipArchive) throws -> ForeignFile {
        let path = archive.path
        let config = try json(archive, "config.json")
        let metadata = (try? json(archive, "metadata.json"))?.compactMapValues { $0 as? String } ?? [:]
        guard let weightsEntry = archive["model.weights.h5"] else {
            throw WeightsFileError("\(path) is a .keras archive without model.weights.h5; it holds no weights")
        }
        let described = try describe(config, path: path)
        let stored = try variables(archive, weightsEntry)
        var byKeys = Dictionary(stored.map { ($0.keys, $0.variables) }, uniquingKeysWith: { first, _ in first })
        var weights = ForeignWeights(source: path)
        for layer in described {
            guard let variables = byKeys.removeValue(forKey: layer.keys), !variables.isEmpty else { continue }
            let names = layer.variableNames ?? variables.indices.map(String.init)
            guard names.count == variables.count else {
                throw WeightsFileError("\(path): layer \(layer.layer.name) (\(layer.layer.className)) has \(variables.count) variables where its config implies \(names.count) (\(names.joined(separator: ", "))); the archive is damaged")
            }
            for (name, tensor) in zip(names, variables) {
                try weights.add("\(layer.layer.name)/\(name)", ForeignTensor(shape: tensor.shape, values: tensor.data))
            }
        }
        if let orphan = byKeys.first(where: { !$0.value.isEmpty }) {
            throw WeightsFileError("\(path): model.weights.h5 holds variables at 'layers/\(orphan.key.joined(separator: "/layers/"))' for a layer config.json does not describe; the archive is damaged")
        }
        return ForeignFile(format: .keras, weights: weights, metadata: metadata, kerasLayers: described.map(\.layer))
    }

    /// A bare `.weights.h5`: the layers of `model` (a zoo model, built as it was saved) name the
    /// variables at their keys. Where the file nests a model (a fine-tuned model holding the base as one
    /// layer), `model` names the nested one. Layers the model lacks (a new head) keep their keys:
    /// `dense/kernel`, `dense_1/bias`.
    static func readWeights(_ path: String, model: Model) throws -> ForeignWeights {
        let stored = try Keras3Variables.read(path)
        let nested = stored.filter { $0.keys.count > 1 }.map { Array($0.keys.dropLast()) }
        let base = Dictionary(grouping: nested, by: { $0 }).max { $0.value.count < $1.value.count }?.key ?? []
        let positions = Dictionary(zip(Keras3Variables.keys(of: model).map { base + [$0] }, model.layers.indices),
                                   uniquingKeysWith: { first, _ in first })
        // The model's layers in its order, then the layers it lacks in the file's.
        let ordered = stored.enumerated().filter { !$0.element.variables.isEmpty }
            .sorted { (positions[$0.element.keys] ?? model.layers.count + $0.offset) < (positions[$1.element.keys] ?? model.layers.count + $1.offset) }
        var weights = ForeignWeights(source: path)
        for (_, entry) in ordered {
            let names: [String]
            if let position = positions[entry.keys] {
                let layer = model.layers[position]
                names = layer.parameters.map { "\(layer.name)/\($0.name)" }
                guard names.count == entry.variables.count else {
                    throw WeightsFileError("\(path): '\(entry.keys.joined(separator: "/"))' holds \(entry.variables.count) variables but \(model.name)'s layer \(layer.name) (\(layer.kerasClass)) has \(names.count); the file is from another architecture or damaged")
                }
            } else {
                let key = entry.keys.joined(separator: "/")
                let dense = entry.keys.last!.split(separator: "_").first == "dense" && entry.variables.count <= 2
                names = dense ? ["kernel", "bias"].prefix(entry.variables.count).map { "\(key)/\($0)" } : entry.variables.indices.map { "\(key)/\($0)" }
            }
            for (name, tensor) in zip(names, entry.variables) {
                try weights.add(name, ForeignTensor(shape: tensor.shape, values: tensor.data))
            }
        }
        return weights
    }

    /// A config layer with its place in the weights file and the names of its variables.
    private struct DescribedLayer {
        let layer: KerasLayer
        let keys: [String]
        let variableNames: [String]?
    }

    /// The layers of config.json's model, nested models' layers after the nested model itself.
    private static func describe(_ config: [String: Any], path: String) throws -> [DescribedLayer] {
        guard let className = config["class_name"] as? String, ["Functional", "Sequential", "Model"].contains(className),
              let body = config["config"] as? [String: Any] else {
            throw WeightsFileError("\(path): config.json does not describe a Functional or Sequential model; it is not a model of ours")
        }
        var layers: [DescribedLayer] = []
        try describeLayers(body, sequential: className == "Sequential", parent: nil, keys: [], into: &layers, path: path)
        return layers
    }

    private static func describeLayers(_ model: [String: Any], sequential: Bool, parent: String?, keys: [String],
                                       into layers: inout [DescribedLayer], path: String) throws {
        guard keys.count < nestingLimit, let list = model["layers"] as? [[String: Any]] else {
            throw WeightsFileError("\(path): config.json has a model without a layer list, or nested too deep; the archive is damaged")
        }
        var counters: [String: Int] = [:]
        var previous: String?
        for entry in list {
            guard let className = (entry["class_name"] as? String).map(printable), let config = entry["config"] as? [String: Any],
                  let name = ((entry["name"] as? String) ?? (config["name"] as? String)).map(printable) else {
                throw WeightsFileError("\(path): config.json has a layer without a class or name; the archive is damaged")
            }
            let base = Keras3Variables.key(forClass: className)
            let count = counters[base, default: 0]
            counters[base] = count + 1
            let key = keys + [count == 0 ? base : "\(base)_\(count)"]
            let inputs = sequential ? (previous.map { [$0] } ?? []) : inboundLayers(entry["inbound_nodes"])
            if !(sequential && className == "InputLayer") { previous = name }
            let layer = KerasLayer(name: name, className: className, inputs: inputs, parent: parent,
                                   units: config["units"] as? Int, activation: config["activation"] as? String)
            layers.append(DescribedLayer(layer: layer, keys: key, variableNames: variableNames(className, config)))
            if ["Functional", "Sequential", "Model"].contains(className) {
                try describeLayers(config, sequential: className == "Sequential", parent: name, keys: key, into: &layers, path: path)
            }
        }
    }

    /// The layer names in a Keras 3 `inbound_nodes` list: every `keras_history` of every argument.
    private static func inboundLayers(_ value: Any?) -> [String] {
        var names: [String] = []
        var pending: [Any] = value.map { [$0] } ?? []
        // Inbound nodes nest a few levels (node, args, list of tensors); the bound stops a crafted config.
        while let item = pending.popLast(), names.count + pending.count < 10_000 {
            if let dict = item as? [String: Any] {
                if let history = (dict["config"] as? [String: Any])?["keras_history"] as? [Any], let name = history.first as? String {
                    names.append(name)
                } else {
                    pending += dict.values
                }
            } else if let list = item as? [Any] {
                pending += list.reversed()
            }
        }
        return names
    }

    /// Keras 3's variable order for the weighted layers of keras.applications models; nil for others.
    static func variableNames(_ className: String, _ config: [String: Any]) -> [String]? {
        let bias = (config["use_bias"] as? Bool ?? true) ? ["bias"] : []
        switch className {
        case "Conv2D", "Dense": return ["kernel"] + bias
        case "SeparableConv2D": return ["depthwise_kernel", "pointwise_kernel"] + bias
        case "BatchNormalization":
            return (config["scale"] as? Bool ?? true ? ["gamma"] : []) + (config["center"] as? Bool ?? true ? ["beta"] : [])
                + ["moving_mean", "moving_variance"]
        default: return nil
        }
    }

    private static func json(_ archive: ZipArchive, _ member: String) throws -> [String: Any] {
        guard let entry = archive[member] else { throw WeightsFileError("\(archive.path) is a .keras archive without \(member)") }
        let bytes = try archive.read(entry, maximumSize: configLimit)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw WeightsFileError("\(archive.path): \(member) is not a JSON object; the archive is damaged")
        }
        return object
    }

    /// The variables of the archive's `model.weights.h5`, copied to a file in a folder only this user can
    /// read (libhdf5 reads files; the archive's member names never become paths) and removed afterwards.
    /// The member's bytes are let go once written, before libhdf5 reads the copy.
    private static func variables(_ archive: ZipArchive, _ entry: ZipArchive.Entry) throws -> [Keras3StoredLayer] {
        let template = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("finetune-keras.XXXXXX").path
        var buffer = Array(template.utf8CString)
        guard let folder = buffer.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!).map { String(cString: $0) } }) else {
            throw WeightsFileError("cannot create a temporary folder in \(NSTemporaryDirectory()): \(String(cString: strerror(errno)))")
        }
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = "\(folder)/model.weights.h5"
        try archive.read(entry).withUnsafeBytes { raw in
            let bytes = raw.baseAddress.map { Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0), count: raw.count, deallocator: .none) } ?? Data()
            do {
                try bytes.write(to: URL(fileURLWithPath: file))
            } catch {
                throw WeightsFileError("cannot write a temporary copy of \(archive.path):model.weights.h5 in \(folder): \(error.localizedDescription)")
            }
        }
        return try Keras3Variables.read(file)
    }
}
