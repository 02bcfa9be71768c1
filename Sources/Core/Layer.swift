/// One named weight array of a layer (`kernel`, `bias`, `gamma`, `moving_mean`, …). Sendable so that a
/// model's parameters can be read by the worker threads of one step; only the thread that owns the model
/// assigns them, between steps.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public let shape: [Int]
    /// False for BatchNorm's moving statistics, which no optimizer touches.
    public let trainable: Bool
    /// Bumped on every assignment so kernels that cache reordered weights know to refresh.
    public private(set) var version = 0
    public var value: Tensor {
        didSet {
            precondition(value.shape == shape, "parameter \(name) expects shape \(shape), got \(value.shape)")
            version &+= 1
        }
    }

    public init(name: String, shape: [Int], fill: Float = 0, trainable: Bool = true) {
        self.name = name
        self.shape = shape
        self.trainable = trainable
        self.value = Tensor(shape: shape, data: [Float](repeating: fill, count: shape.reduce(1, *)))
    }
}

/// A Keras layer: a name, its weights in Keras' order, a shape rule and a forward pass.
public protocol Layer: AnyObject {
    var name: String { get }
    /// Keras' class name, used for `.weights.h5` keys and model configs.
    var kerasClass: String { get }
    /// Weights in the order Keras saves them (trainable first, then non-trainable).
    var parameters: [Parameter] { get }
    /// Creates the weights for these input shapes (without the batch axis); returns the output shape.
    func build(inputShapes: [[Int]]) throws -> [Int]
    /// Inference forward pass on batched inputs.
    func forward(_ inputs: [Tensor]) throws -> Tensor
}

extension Layer {
    public var parameters: [Parameter] { [] }

    public func parameter(_ name: String) -> Parameter? {
        parameters.first { $0.name == name }
    }
}

/// What a convolution applies to its output before writing it: a folded BatchNorm and a ReLU.
public struct Epilogue: Sendable {
    public var scale: [Float]?
    public var shift: [Float]?
    public var relu: Bool
    /// Versions of the parameters the scale and shift came from.
    public var stamp: [Int]

    public static let none = Epilogue(scale: nil, shift: nil, relu: false, stamp: [])
}

/// Layers that can absorb a following BatchNorm and ReLU into their own kernel at inference.
public protocol FusableConvolution: Layer {
    var filters: Int { get }
    func forward(_ input: Tensor, epilogue: Epilogue) throws -> Tensor
}

/// Nonlinearities Keras attaches to layers or applies as `Activation` layers.
public enum ActivationKind: String, Sendable {
    case linear, relu, softmax, sigmoid
}
