import CKernels
import Foundation

/// Keras `BatchNormalization` over the channel axis, inference mode:
/// y = (x − moving_mean) / sqrt(moving_variance + ε) · gamma + beta.
public final class BatchNormalization: Layer {
    public let name: String
    public let kerasClass = "BatchNormalization"
    public let epsilon: Float
    /// InceptionV3 builds its BatchNorms without gamma.
    public let scale: Bool
    public private(set) var parameters: [Parameter] = []

    public init(_ name: String, epsilon: Float = 1e-3, scale: Bool = true) {
        self.name = name
        self.epsilon = epsilon
        self.scale = scale
    }

    public func build(inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1, let channels = inputShapes[0].last else {
            throw ModelError("layer \(name) expects one input")
        }
        parameters = (scale ? [Parameter(name: "gamma", shape: [channels], fill: 1)] : []) + [
            Parameter(name: "beta", shape: [channels]),
            Parameter(name: "moving_mean", shape: [channels], trainable: false),
            Parameter(name: "moving_variance", shape: [channels], fill: 1, trainable: false),
        ]
        return inputShapes[0]
    }

    /// The per-channel affine map this layer applies at inference.
    public func inferenceAffine(relu: Bool = false) -> Epilogue {
        let offset = scale ? 1 : 0
        let gamma = scale ? parameters[0].value.data : nil
        let beta = parameters[offset].value.data
        let mean = parameters[offset + 1].value.data
        let variance = parameters[offset + 2].value.data
        var factor = [Float](repeating: 0, count: beta.count)
        var shift = factor
        for c in beta.indices {
            factor[c] = (gamma?[c] ?? 1) / (variance[c] + epsilon).squareRoot()
            shift[c] = beta[c] - mean[c] * factor[c]
        }
        return Epilogue(scale: factor, shift: shift, relu: relu, stamp: parameters.map(\.version))
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor {
        let x = inputs[0]
        let affine = inferenceAffine()
        let channels = x.shape.last!
        return try Tensor(uninitialized: x.shape) { out in
            try kernelCheck(ck_channel_affine(x.data, out, x.count / channels, Int32(channels),
                                              affine.scale!, affine.shift!, 0), "batch normalization")
        }
    }
}
