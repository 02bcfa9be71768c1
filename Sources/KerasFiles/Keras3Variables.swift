import CHDF5
import Core
import Foundation

/// One layer's variables in a Keras 3 weights file: `layers/<key>/vars/<i>`, where `key` is the
/// snake-cased class name made unique by a counter (`conv2d_3`); a nested model's layers sit under
/// its own key (`layers/functional/layers/conv2d`), so `keys` is the path of keys from the root.
public struct Keras3StoredLayer: Sendable {
    public let keys: [String]
    public let variables: [Tensor]
}

/// The layer tree of a Keras 3 `.weights.h5` file (also the `model.weights.h5` inside a `.keras`
/// archive), read without a model: the keys say only class and position, the caller names them.
public enum Keras3Variables {
    /// keras.applications models nest at most once (the base inside a fine-tuned model); deeper trees are refused.
    static let nestingLimit = 4

    /// Every layer group of the file, depth first in key order, with its variables as float32.
    public static func read(_ path: String) throws -> [Keras3StoredLayer] {
        let file = try HDF5File.open(path)
        guard try file.exists("layers", in: file.root) else {
            throw WeightsFileError("\(path) is HDF5 but has no 'layers' group; it is not a Keras 3 weights file")
        }
        var layers: [Keras3StoredLayer] = []
        try collect(file, group: "layers", keys: [], into: &layers)
        return layers
    }

    /// The Keras 3 keys (`conv2d`, `conv2d_1`, …) of `model.layers`, in that order.
    public static func keys(of model: Model) -> [String] { Weights.keras3Keys(model) }

    /// The key stem Keras 3 gives a layer class (`SeparableConv2D` → `separable_conv2d`).
    public static func key(forClass className: String) -> String { Weights.snakeCase(className) }

    private static func collect(_ file: HDF5File, group path: String, keys: [String], into layers: inout [Keras3StoredLayer]) throws {
        guard keys.count <= nestingLimit else {
            throw WeightsFileError("\(file.path) nests models more than \(nestingLimit) deep; the file is damaged or not from a Keras model we read")
        }
        let group = try file.group(path)
        for key in try children(of: group, file: file, path: path) {
            let layer = "\(path)/\(key)"
            if try file.exists("\(layer)/layers", in: file.root) {
                try collect(file, group: "\(layer)/layers", keys: keys + [key], into: &layers)
            }
            guard try file.exists("\(layer)/vars", in: file.root) else { continue }
            let vars = try file.group("\(layer)/vars")
            var variables: [Tensor] = []
            while try file.exists("\(variables.count)", in: vars) {
                guard variables.count < Weights.weightLimit else {
                    throw WeightsFileError("\(file.path): '\(layer)' holds more than \(Weights.weightLimit) variables, more than any layer has; the file is damaged")
                }
                variables.append(try file.read(try file.array("\(variables.count)", in: vars)))
            }
            layers.append(Keras3StoredLayer(keys: keys + [key], variables: variables))
        }
    }

    /// The names of a group's members, in HDF5's name order, bounded in count and length.
    private static func children(of group: H5Handle, file: HDF5File, path: String) throws -> [String] {
        var info = H5G_info_t()
        guard H5Gget_info(group.id, &info) >= 0 else { throw WeightsFileError("\(file.path): cannot list '\(path)'; the file is damaged") }
        guard info.nlinks <= UInt64(Weights.layerLimit) else {
            throw WeightsFileError("\(file.path): '\(path)' lists \(info.nlinks) layers, more than any model has; the file is damaged or hostile")
        }
        return try (0..<info.nlinks).map { index in
            var buffer = [CChar](repeating: 0, count: 256)
            let length = H5Lget_name_by_idx(group.id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, chdf5_p_default())
            guard length > 0, length < buffer.count else {
                throw WeightsFileError("\(file.path): a layer name in '\(path)' is unreadable or longer than any Keras key; the file is damaged")
            }
            return printable(String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
    }
}
