import Core
import Foundation

/// How file layers are paired with model layers.
public enum WeightMatching: String, CaseIterable, Sendable {
    /// Keras' default for HDF5: the k-th weighted layer of the file goes to the k-th of the model.
    case order
    /// Layers with the same name (legacy files only; never for files with auto-generated names).
    case name
}

/// What a load did, by model layer name.
public struct LoadReport: Sendable {
    public var loaded: [String] = []
    /// File layers that no model layer took.
    public var skipped: [String] = []
    /// Model layers with weights that the file did not provide.
    public var missing: [String] = []

    public var summary: String {
        "loaded \(loaded.count) layers, skipped \(skipped.count), missing \(missing.count)"
    }
}

/// One layer's arrays as a weight file stores them, measured but not yet read.
struct StoredLayer {
    let name: String
    let arrays: [StoredArray]
}

/// Reads and writes Keras weight files: the legacy HDF5 layout (`layer_names`, `weight_names`,
/// also inside `model_weights` of full-model files) and the Keras 3 `.weights.h5` layout.
public enum Weights {
    /// Loads `path` into `model` after checking every layer and shape; the model is untouched on error.
    @discardableResult
    public static func load(into model: Model, from path: String, matching: WeightMatching = .order) throws -> LoadReport {
        let file = try HDF5File.open(path)
        if let legacy = try legacyRoot(file) {
            let stored = try readLegacy(file, root: legacy)
            switch matching {
            case .order: return try assignInOrder(stored, to: model, file: file)
            case .name: return try assignByName(stored, to: model, file: file)
            }
        }
        if try file.exists("layers", in: file.root) {
            guard matching == .order else {
                throw WeightsFileError("\(path) is a Keras 3 .weights.h5 file, whose layers are keyed by class and position; load it by order, not by name")
            }
            return try assignKeras3(file, to: model)
        }
        throw WeightsFileError("\(path) is HDF5 but not a Keras weights file (no layer_names attribute, model_weights or layers group)")
    }

    /// The group holding the legacy layout: the root, or `model_weights` of a full-model file.
    private static func legacyRoot(_ file: HDF5File) throws -> H5Handle? {
        if try file.hasChunkedStrings("layer_names", on: file.root) { return file.root }
        if try file.exists("model_weights", in: file.root) {
            let group = try file.group("model_weights")
            if try file.hasChunkedStrings("layer_names", on: group) { return group }
        }
        return nil
    }

    /// Layers with weights, in the order of `layer_names`; each `weight_names` entry is a path
    /// below the layer's group (never parsed: Keras 1, 2 and 3 name them differently).
    static func readLegacy(_ file: HDF5File, root: H5Handle) throws -> [StoredLayer] {
        let names = try file.chunkedStrings("layer_names", on: root, limit: layerLimit) ?? []
        guard names.count <= layerLimit else {
            throw WeightsFileError("\(file.path) lists more than \(layerLimit) layers, more than any model has; the file is damaged or hostile")
        }
        return try names.compactMap { name in
            let group = try file.group(name, in: root)
            let weightNames = try file.chunkedStrings("weight_names", on: group, limit: weightLimit) ?? []
            guard !weightNames.isEmpty else { return nil }
            return StoredLayer(name: name, arrays: try weightNames.map { try file.array("\(name)/\($0)", in: root) })
        }
    }

    /// InceptionV3, the deepest model here, has 313 layers; a file listing far more is not a weights file.
    static let layerLimit = 10_000
    /// A layer has at most four weights (BatchNorm's); the limit only stops a runaway read.
    static let weightLimit = 64

    private static func assignInOrder(_ stored: [StoredLayer], to model: Model, file: HDF5File) throws -> LoadReport {
        let layers = model.weightedLayers
        guard stored.count == layers.count else {
            let (hint, kind) = mismatchHint(stored, model)
            throw WeightsFileError("\(file.path) has weights for \(stored.count) layers but \(describe(model)) has \(layers.count) layers with weights; \(hint)",
                                   kind: kind)
        }
        try assign(Array(zip(layers, stored)), file: file)
        return LoadReport(loaded: layers.map(\.name))
    }

    private static func assignByName(_ stored: [StoredLayer], to model: Model, file: HDF5File) throws -> LoadReport {
        var pairs: [(any Layer, StoredLayer)] = []
        var report = LoadReport()
        for entry in stored {
            if let layer = model.layer(named: entry.name), !layer.parameters.isEmpty {
                pairs.append((layer, entry))
            } else {
                report.skipped.append(entry.name)
            }
        }
        try assign(pairs, file: file)
        report.loaded = pairs.map(\.0.name)
        let loaded = Set(report.loaded)
        report.missing = model.weightedLayers.map(\.name).filter { !loaded.contains($0) }
        return report
    }

    private static func assignKeras3(_ file: HDF5File, to model: Model) throws -> LoadReport {
        var pairs: [(any Layer, StoredLayer)] = []
        var report = LoadReport()
        for (layer, key) in zip(model.layers, keras3Keys(model)) where !layer.parameters.isEmpty {
            let path = "layers/\(key)/vars"
            guard try file.exists(path, in: file.root) else {
                report.missing.append(layer.name)
                continue
            }
            let group = try file.group(path)
            var arrays: [StoredArray] = []
            while arrays.count <= layer.parameters.count, try file.exists("\(arrays.count)", in: group) {
                arrays.append(try file.array("\(arrays.count)", in: group))
            }
            pairs.append((layer, StoredLayer(name: key, arrays: arrays)))
        }
        if !report.missing.isEmpty {
            throw WeightsFileError("\(file.path) has no weights for \(report.missing.count) layers of \(describe(model)), first \(report.missing[0]); is it for another architecture or a top/no-top mix-up?")
        }
        try assign(pairs, file: file)
        report.loaded = pairs.map(\.0.name)
        return report
    }

    /// Checks every pair's count and shapes, reads the arrays, then assigns: nothing is read before its
    /// size is known to fit the model, and a bad file leaves the model as it was.
    private static func assign(_ pairs: [(any Layer, StoredLayer)], file: HDF5File) throws {
        for (layer, stored) in pairs {
            let expected = layer.parameters
            guard stored.arrays.count == expected.count else {
                throw WeightsFileError("\(file.path): layer \(stored.name) has \(stored.arrays.count) weight arrays but model layer \(layer.name) (\(layer.kerasClass)) expects \(expected.count) (\(expected.map(\.name).joined(separator: ", ")))")
            }
            for (parameter, array) in zip(expected, stored.arrays) where parameter.shape != array.shape {
                throw WeightsFileError("\(file.path): layer \(stored.name) weight \(parameter.name) has shape \(format(array.shape)) but model layer \(layer.name) expects \(format(parameter.shape))")
            }
        }
        let values = try pairs.map { _, stored in try stored.arrays.map(file.read) }
        for ((layer, _), tensors) in zip(pairs, values) {
            for (parameter, tensor) in zip(layer.parameters, tensors) { parameter.value = tensor }
        }
    }

    private static func describe(_ model: Model) -> String {
        "\(model.name) (output \(format(model.outputShape)))"
    }

    /// Says whether a count mismatch looks like a top/no-top mix-up.
    private static func mismatchHint(_ stored: [StoredLayer], _ model: Model) -> (String, WeightsFileError.Kind) {
        let modelHasTop = model.weightedLayers.last is Dense
        let fileHasTop = stored.last?.arrays.first?.shape.count == 2
        if modelHasTop && !fileHasTop {
            return ("it looks like a no-top file: build the model without its classifier", .classifierMismatch(fileHasClassifier: false))
        }
        if !modelHasTop && fileHasTop {
            return ("it looks like a file with the classifier: build the model with its classifier", .classifierMismatch(fileHasClassifier: true))
        }
        return ("is it for another architecture?", .other)
    }

    static func format(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "x") }

    /// Keras 3 keys: the snake-cased class name, made unique per class in `model.layers` order.
    static func keras3Keys(_ model: Model) -> [String] {
        var counts: [String: Int] = [:]
        return model.layers.map { layer in
            let base = snakeCase(layer.kerasClass)
            let k = counts[base, default: 0]
            counts[base] = k + 1
            return k == 0 ? base : "\(base)_\(k)"
        }
    }

    /// Keras' `to_snake_case`: `SeparableConv2D` → `separable_conv2d`.
    static func snakeCase(_ name: String) -> String {
        var s = name.replacingOccurrences(of: "(.)([A-Z][a-z]+)", with: "$1_$2", options: .regularExpression)
        s = s.replacingOccurrences(of: "([a-z])([A-Z])", with: "$1_$2", options: .regularExpression)
        return s.lowercased()
    }

    // MARK: writing

    /// Writes the legacy layout Keras' `load_weights` reads (and what the published files use):
    /// every layer in `model.layers` order, weights at `<layer>/<layer>/<weight>:0`.
    /// Written to a temporary file and renamed, so a crash never leaves half a file.
    public static func saveLegacy(_ model: Model, to path: String, attributes: [String: String] = [:]) throws {
        try writeAtomically(path) { file in
            try writeLegacyGroup(model, file: file, group: file.root)
            for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
                try file.setString(key, value, on: file.root)
            }
        }
    }

    static func writeLegacyGroup(_ model: Model, file: HDF5File, group: H5Handle) throws {
        try file.setStrings("layer_names", model.layers.map(\.name), on: group)
        try file.setString("backend", "tensorflow", on: group)
        try file.setString("keras_version", "2.15.0", on: group)
        for layer in model.layers {
            let layerGroup = try file.createGroup(layer.name, in: group)
            let names = layer.parameters.map { "\(layer.name)/\($0.name):0" }
            try file.setStrings("weight_names", names, on: layerGroup)
            for (name, parameter) in zip(names, layer.parameters) {
                try file.write(parameter.value, at: name, in: layerGroup)
            }
        }
    }

    /// Writes Keras 3's `model.weights.h5` layout: each layer of `model.layers` at `layers/<key>/vars`
    /// (keys as `keras3Keys`) with its arrays as datasets `0`, `1`, …, and the layer's name as the group's
    /// `name` attribute, as Keras 3 saves them.
    public static func saveKeras3(_ model: Model, to path: String) throws {
        try writeAtomically(path) { file in
            try file.setString("name", model.name, on: try file.createGroup("vars"))
            for (layer, key) in zip(model.layers, keras3Keys(model)) {
                let vars = try file.createGroup("layers/\(key)/vars")
                try file.setString("name", layer.name, on: vars)
                for (i, parameter) in layer.parameters.enumerated() {
                    try file.write(parameter.value, at: "\(i)", in: vars)
                }
            }
        }
    }

    /// Writes a new HDF5 file at `path` through `body`: into a temporary file in the same folder, flushed
    /// to the disk, then renamed over `path`. A crash, a kill or a full disk leaves the previous file whole.
    static func writeAtomically(_ path: String, _ body: (HDF5File) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).tmp").path
        do {
            let file = try HDF5File.create(temporary, becoming: path)
            try body(file)
            try file.finish()
            try DurableFile.sync(temporary)
            guard rename(temporary, path) == 0 else {
                throw WeightsFileError("cannot move the finished file to \(path): \(String(cString: strerror(errno)))")
            }
            try DurableFile.sync(url.deletingLastPathComponent().path)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }
}
