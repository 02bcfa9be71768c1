import Core
import Foundation

/// Keras' full-model HDF5 file (`model.save('x.h5')`): the architecture as `model_config` JSON and
/// the weights in the legacy layout under `model_weights`, so `keras.models.load_model` rebuilds it.
public enum KerasModelFile {
    /// Writes `model` atomically; `attributes` become extra root string attributes (our metadata).
    public static func save(_ model: Model, to path: String, attributes: [String: String] = [:]) throws {
        let config = try modelConfig(model)
        try Weights.writeAtomically(path) { file in
            try file.setString("model_config", config, on: file.root)
            try file.setString("backend", "tensorflow", on: file.root)
            try file.setString("keras_version", "3.15.1", on: file.root)
            for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
                try file.setString(key, value, on: file.root)
            }
            let weights = try file.createGroup("model_weights")
            try Weights.writeLegacyGroup(model, file: file, group: weights)
        }
    }

    /// A root string attribute of a saved model, or nil.
    public static func attribute(_ name: String, in path: String) throws -> String? {
        let file = try HDF5File.open(path)
        return try file.string(name, on: file.root)
    }

    /// The Keras 3 functional config of `model` (layers in `model.layers` order).
    public static func modelConfig(_ model: Model) throws -> String {
        var layerNodes: [ObjectIdentifier: Node] = [:]
        for node in model.nodes { layerNodes[ObjectIdentifier(node.layer)] = node }
        let layers: [[String: Any]] = try model.layers.map { layer in
            let node = layerNodes[ObjectIdentifier(layer)]!
            let tensors: [[String: Any]] = node.inputs.map { input in
                let source = model.nodes[input]
                return ["class_name": "__keras_tensor__",
                        "config": ["shape": [NSNull()] + source.outputShape.map { $0 as Any }, "dtype": "float32",
                                   "keras_history": [source.layer.name, 0, 0]] as [String: Any]]
            }
            let inbound: [[String: Any]] = node.inputs.isEmpty ? [] :
                [["args": tensors.count == 1 ? [tensors[0]] : [tensors], "kwargs": [String: Any]()]]
            var config = try layerConfig(layer)
            config["name"] = layer.name
            config["trainable"] = true
            config["dtype"] = "float32"
            return ["class_name": layer.kerasClass, "config": config, "name": layer.name, "inbound_nodes": inbound]
        }
        let root: [String: Any] = [
            "class_name": "Functional",
            "config": ["name": model.name, "trainable": true, "layers": layers,
                       "input_layers": [model.nodes[0].layer.name, 0, 0],
                       "output_layers": [model.nodes[model.output].layer.name, 0, 0]] as [String: Any],
        ]
        let data = try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// The constructor arguments Keras needs for each layer class we build.
    private static func layerConfig(_ layer: any Layer) throws -> [String: Any] {
        func pair(_ p: (Int, Int)) -> [Int] { [p.0, p.1] }
        switch layer {
        case let l as InputLayer:
            return ["batch_shape": [NSNull()] + l.shape.map { $0 as Any }, "sparse": false]
        case let l as Conv2D:
            return ["filters": l.filters, "kernel_size": pair(l.kernelSize), "strides": pair(l.strides), "padding": l.padding.rawValue,
                    "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1, "activation": l.activation.rawValue,
                    "use_bias": l.useBias]
        case let l as DepthwiseConv2D:
            return ["kernel_size": pair(l.kernelSize), "strides": pair(l.strides), "padding": l.padding.rawValue,
                    "depth_multiplier": 1, "data_format": "channels_last", "activation": "linear", "use_bias": l.useBias]
        case let l as SeparableConv2D:
            return ["filters": l.filters, "kernel_size": pair(l.kernelSize), "strides": pair(l.strides), "padding": l.padding.rawValue,
                    "depth_multiplier": 1, "data_format": "channels_last", "activation": "linear", "use_bias": l.useBias]
        case let l as BatchNormalization:
            return ["axis": -1, "momentum": 0.99, "epsilon": Double(l.epsilon), "center": true, "scale": l.scale]
        case let l as Activation:
            return ["activation": l.kind.rawValue]
        case let l as Pooling2D:
            return ["pool_size": pair(l.poolSize), "strides": pair(l.strides), "padding": l.padding.rawValue,
                    "data_format": "channels_last"]
        case is GlobalPooling2D:
            return ["data_format": "channels_last", "keepdims": false]
        case let l as ZeroPadding2D:
            return ["padding": [[l.pads.top, l.pads.bottom], [l.pads.left, l.pads.right]], "data_format": "channels_last"]
        case is Add:
            return [:]
        case is Concatenate:
            return ["axis": -1]
        case is Flatten:
            return ["data_format": "channels_last"]
        case let l as Dense:
            return ["units": l.units, "activation": l.activation.rawValue, "use_bias": l.useBias]
        case let l as Dropout:
            return ["rate": Double(l.rate)]
        default:
            throw WeightsFileError("layer \(layer.name) (\(layer.kerasClass)) has no Keras config")
        }
    }
}
