import Core

/// One tensor read from another framework's file, widened to float32, in that framework's own layout
/// (PyTorch's OIHW convolutions, (out, in) linear weights, …); the mappings in `converters/` say how it
/// becomes a Keras weight.
public struct ForeignTensor: Sendable, Equatable {
    public let shape: [Int]
    public let values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "a foreign tensor's values must fill its shape")
        self.shape = shape
        self.values = values
    }
}

/// The named tensors of a PyTorch state dict, a safetensors file or a Keras 3 weights file, in the
/// file's order, with the names as the source spells them (`layer1.0.conv1.weight`, …).
public struct ForeignWeights: Sendable {
    public let source: String
    public private(set) var names: [String] = []
    public private(set) var tensors: [String: ForeignTensor] = [:]

    public init(source: String) { self.source = source }

    /// Adds a tensor; a name seen twice is a damaged or hostile file, so it is refused.
    public mutating func add(_ name: String, _ tensor: ForeignTensor) throws {
        guard tensors[name] == nil else { throw ModelError("\(source) holds the tensor '\(name)' twice") }
        names.append(name)
        tensors[name] = tensor
    }

    public subscript(name: String) -> ForeignTensor? { tensors[name] }
}
