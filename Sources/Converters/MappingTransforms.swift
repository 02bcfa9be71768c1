import Core
import Foundation
import KerasFiles

extension Mapping.Transform {
    /// The source weight names this transform reads (PyTorch's for all but the Keras ones, which keep Keras' names).
    private var reads: Set<String>? {
        switch self {
        case .conv, .dense, .denseAfterFlatten: ["weight", "bias"]
        case .depthwise, .pointwise: ["weight"]
        case .batchnorm: ["weight", "bias", "running_mean", "running_var"]
        case .keras, .kerasDense: nil
        }
    }

    /// `names` split into the weights this transform uses and those it has no place for; the rest
    /// (BatchNorm's `num_batches_tracked`, a step counter) have no Keras counterpart and are dropped.
    func split(_ names: [String]) -> (used: [String], unused: [String]) {
        guard let reads else { return (names, []) }
        let dropped: Set<String> = self == .batchnorm ? ["num_batches_tracked"] : []
        return (names.filter(reads.contains), names.filter { !reads.contains($0) && !dropped.contains($0) })
    }

    /// Whether this transform takes `module`: a user's Keras head is a Dense (a 2-D kernel and a bias), nothing else.
    func accepts(_ module: SourceModules.Module, _ weights: ForeignWeights) -> Bool {
        self != .kerasDense || (module.weightNames == ["bias", "kernel"] && weights[module.keys["kernel"]!]?.shape.count == 2)
    }

    /// The classifier's number of classes, from its weight's shape.
    func classes(_ module: SourceModules.Module, _ weights: ForeignWeights) -> Int? {
        switch self {
        case .keras, .kerasDense: module.keys["kernel"].flatMap { weights[$0]?.shape.last }
        default: module.keys["weight"].flatMap { weights[$0]?.shape.first }
        }
    }

    /// The Keras weights of `layer` that `module` gives, in Keras' layout.
    func apply(to module: SourceModules.Module, of weights: ForeignWeights, layer: any Layer, model: Model,
               sourceEpsilon: Float?) throws -> ConvertedModule {
        func tensor(_ name: String) throws -> ForeignTensor {
            guard let key = module.keys[name], let found = weights[key] else {
                throw WeightsFileError("\(weights.source) has no \(module.path)\(name.isEmpty ? "" : ".")\(name), which \(layer.name) needs")
            }
            return found
        }
        func permuted(_ name: String, rank: Int, _ order: [Int]) throws -> Tensor {
            let source = try tensor(name)
            guard source.shape.count == rank else {
                throw WeightsFileError("\(weights.source): \(module.keys[name]!) has shape \(Layout.format(source.shape)); \(layer.name) expects \(rank) dimensions (\(self.rawValue))")
            }
            return Layout.permute(source, order)
        }
        var out = ConvertedModule()
        switch self {
        case .conv, .pointwise:
            out.values[self == .conv ? "kernel" : "pointwise_kernel"] = try permuted("weight", rank: 4, [2, 3, 1, 0])
        case .depthwise:
            out.values["depthwise_kernel"] = try permuted("weight", rank: 4, [2, 3, 0, 1])
        case .dense:
            out.values["kernel"] = try permuted("weight", rank: 2, [1, 0])
        case .denseAfterFlatten:
            out.values["kernel"] = try flattenedKernel(try tensor("weight"), layer: layer, model: model, source: weights.source)
        case .batchnorm:
            out = try batchNorm(tensor, layer: layer, sourceEpsilon: sourceEpsilon)
        case .keras, .kerasDense:
            for name in module.weightNames {
                let value = try tensor(name)
                out.values[name] = Tensor(shape: value.shape, data: value.values)
            }
        }
        if [.conv, .dense, .denseAfterFlatten].contains(self), let kernel = out.values["kernel"] {
            // PyTorch layers built with bias=False have none where the Keras layer may: zeros are exact.
            let width = kernel.shape.last!
            if module.keys["bias"] != nil {
                let bias = try tensor("bias")
                out.values["bias"] = Tensor(shape: bias.shape, data: bias.values)
            } else if layer.parameter("bias") != nil {
                out.values["bias"] = Tensor(shape: [width], data: [Float](repeating: 0, count: width))
            }
        }
        return out
    }

    /// torchvision's VGG flattens (C, H, W) feature maps, Keras flattens (H, W, C): the same Dense sees its
    /// inputs in another order, so the kernel's rows are reordered. H, W and C come from the model's Flatten.
    private func flattenedKernel(_ weight: ForeignTensor, layer: any Layer, model: Model, source: String) throws -> Tensor {
        guard let index = model.nodeIndex(ofLayer: layer.name), let flatten = model.nodes[index].inputs.first,
              let features = model.nodes[flatten].inputs.first, case let shape = model.nodes[features].outputShape,
              shape.count == 3, weight.shape.count == 2, weight.shape[1] == shape.reduce(1, *) else {
            throw WeightsFileError("\(source): the weight for \(layer.name) has shape \(Layout.format(weight.shape)), which does not follow the \(model.name) feature maps it flattens")
        }
        let (height, width, channels) = (shape[0], shape[1], shape[2])
        let grid = ForeignTensor(shape: [weight.shape[0], channels, height, width], values: weight.values)
        let kernel = Layout.permute(grid, [2, 3, 1, 0])
        return Tensor(shape: [height * width * channels, weight.shape[0]], data: kernel.data)
    }

    /// PyTorch's BatchNorm as Keras': the ε difference moved into the variance (exact: only σ² + ε is ever
    /// used), and γ handed back for folding when the Keras layer has no scale.
    private func batchNorm(_ tensor: (String) throws -> ForeignTensor, layer: any Layer, sourceEpsilon: Float?) throws -> ConvertedModule {
        guard let batchNorm = layer as? BatchNormalization else {
            throw WeightsFileError("\(layer.name) is a \(layer.kerasClass), not a BatchNormalization; the mapping is wrong")
        }
        var out = ConvertedModule()
        let gamma = try tensor("weight").values
        let shift = (sourceEpsilon ?? batchNorm.epsilon) - batchNorm.epsilon
        if batchNorm.scale {
            out.values["gamma"] = Tensor(shape: [gamma.count], data: gamma)
        } else {
            out.foldedScale = gamma
        }
        for (source, target) in [("bias", "beta"), ("running_mean", "moving_mean"), ("running_var", "moving_variance")] {
            let value = try tensor(source)
            out.values[target] = Tensor(shape: value.shape, data: target == "moving_variance" ? value.values.map { $0 + shift } : value.values)
        }
        return out
    }
}

/// Moving tensors between PyTorch's and Keras' layouts.
enum Layout {
    /// `tensor` with its axes reordered: axis k of the result is axis `order[k]` of the source
    /// (OIHW → HWIO is [2, 3, 1, 0]).
    static func permute(_ tensor: ForeignTensor, _ order: [Int]) -> Tensor {
        let shape = tensor.shape
        var strides = [Int](repeating: 1, count: shape.count)
        for axis in stride(from: shape.count - 2, through: 0, by: -1) { strides[axis] = strides[axis + 1] * shape[axis + 1] }
        let outShape = order.map { shape[$0] }
        let outStrides = order.map { strides[$0] }
        var out = [Float](repeating: 0, count: tensor.values.count)
        guard !out.isEmpty else { return Tensor(shape: outShape, data: out) }
        // An odometer over the result's outer indices tracks the source offset; the innermost axis is a
        // strided copy.
        let inner = outShape.last!, innerStride = outStrides.last!
        var index = [Int](repeating: 0, count: outShape.count - 1)
        var offset = 0
        tensor.values.withUnsafeBufferPointer { source in
            out.withUnsafeMutableBufferPointer { target in
                for start in stride(from: 0, to: target.count, by: inner) {
                    for k in 0..<inner { target[start + k] = source[offset + k * innerStride] }
                    var axis = index.count - 1
                    while axis >= 0 {
                        index[axis] += 1
                        offset += outStrides[axis]
                        if index[axis] < outShape[axis] { break }
                        offset -= outStrides[axis] * outShape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        return Tensor(shape: outShape, data: out)
    }

    /// Each slice along the last axis (a convolution's output channel) multiplied by its scale.
    static func scaleLastAxis(_ tensor: Tensor, by scale: [Float]) -> Tensor {
        var out = tensor
        for k in out.data.indices { out.data[k] *= scale[k % scale.count] }
        return out
    }

    static func format(_ shape: [Int]) -> String { shape.map(String.init).joined(separator: "x") }
}
