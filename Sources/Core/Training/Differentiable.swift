import CKernels

/// How a layer runs while training.
public struct TrainingContext {
    /// BatchNorm layers that normalise with batch statistics and update their moving averages;
    /// every other BatchNorm runs in inference mode (Keras' rule for frozen layers).
    public var batchNormTraining: Set<ObjectIdentifier> = []
    /// Dropout is active while training.
    public var dropoutActive = true
    public var rng: SeededGenerator
    /// Images in the whole step when this process trains a share of it (data-parallel): the loss is their mean.
    public var globalBatch: Int?
    /// BatchNorm in training mode takes its statistics over the batches of all these processes (synchronised
    /// BatchNorm); nil: over this process's batch alone.
    public var batchNormSync: Collective?

    public init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    func trainsStatistics(_ layer: BatchNormalization) -> Bool {
        batchNormTraining.contains(ObjectIdentifier(layer))
    }
}

/// What one layer's backward pass receives.
public struct BackwardPass {
    public let inputs: [Tensor]
    public let output: Tensor
    /// dLoss/dOutput.
    public let gradient: Tensor
    /// What the forward pass kept for this (batch statistics, dropout masks, intermediates).
    public let saved: [Tensor]
    /// Which input gradients are needed (the rest may be nil).
    public let needsInputGradients: [Bool]
    /// Whether parameter gradients are needed (false for frozen layers: no weight-gradient work).
    public let needsParameterGradients: Bool
    /// The processes whose batches synchronised BatchNorm's statistics in the forward pass.
    public let batchNormSync: Collective?

    public init(inputs: [Tensor], output: Tensor, gradient: Tensor, saved: [Tensor],
                needsInputGradients: [Bool], needsParameterGradients: Bool, batchNormSync: Collective? = nil) {
        self.inputs = inputs
        self.output = output
        self.gradient = gradient
        self.saved = saved
        self.needsInputGradients = needsInputGradients
        self.needsParameterGradients = needsParameterGradients
        self.batchNormSync = batchNormSync
    }
}

/// What one layer's backward pass returns.
public struct LayerGradients {
    public var inputs: [Tensor?]
    /// Aligned with `parameters`; empty when not asked for. Non-trainable ones are zero.
    public var parameters: [Tensor]

    public init(inputs: [Tensor?], parameters: [Tensor] = []) {
        self.inputs = inputs
        self.parameters = parameters
    }
}

/// A layer that can train: a forward pass that keeps what backward needs, and backward.
public protocol Differentiable: Layer {
    func forwardTraining(_ inputs: [Tensor], context: inout TrainingContext) throws -> (output: Tensor, saved: [Tensor])
    func backward(_ pass: BackwardPass) throws -> LayerGradients
    /// Whether backward reads the values of its inputs / its output. When neither this layer nor its
    /// consumers read a tensor, training frees it as soon as the forward pass is past it.
    var backwardReadsInputs: Bool { get }
    var backwardReadsOutput: Bool { get }
}

extension Differentiable {
    public var backwardReadsInputs: Bool { true }
    public var backwardReadsOutput: Bool { true }

    /// Layers whose training forward pass is their inference pass and keeps nothing.
    public func forwardTraining(_ inputs: [Tensor], context: inout TrainingContext) throws -> (output: Tensor, saved: [Tensor]) {
        (try forward(inputs), [])
    }
}

/// dy masked where a ReLU output was zero.
func reluGradient(_ gradient: Tensor, output: Tensor) -> Tensor {
    Tensor(uninitialized: gradient.shape) { _ = ck_relu_backward(gradient.data, output.data, $0, gradient.count) }
}

/// The sum over all but the last axis (bias and BatchNorm beta gradients).
func channelSums(_ x: Tensor) -> Tensor {
    let c = x.shape.last!
    var sums = [Double](repeating: 0, count: c)
    x.data.withUnsafeBufferPointer { p in
        for row in 0..<(p.count / c) {
            for k in 0..<c { sums[k] += Double(p[row * c + k]) }
        }
    }
    return Tensor(shape: [c], data: sums.map(Float.init))
}
