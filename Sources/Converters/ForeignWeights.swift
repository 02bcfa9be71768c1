import Core
import KerasFiles

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
    /// Entries that are not floating-point tensors (BatchNorm's int64 `num_batches_tracked`, …), in file
    /// order: never weights, listed so a mapping can tell them from names it does not know.
    public private(set) var skipped: [String] = []

    public init(source: String) { self.source = source }

    /// Adds a tensor; a name seen twice is a damaged or hostile file, so it is refused.
    public mutating func add(_ name: String, _ tensor: ForeignTensor) throws {
        guard tensors[name] == nil else { throw WeightsFileError("\(source) holds the tensor '\(name)' twice") }
        names.append(name)
        tensors[name] = tensor
    }

    /// Records an entry that is not a weight; a name seen twice is refused as in `add`.
    public mutating func skip(_ name: String) throws {
        guard tensors[name] == nil, !skipped.contains(name) else { throw WeightsFileError("\(source) holds the tensor '\(name)' twice") }
        skipped.append(name)
    }

    public subscript(name: String) -> ForeignTensor? { tensors[name] }
}

extension ForeignTensor {
    /// More elements than any layer of any model we build (VGG19's fc1 has 102.8 million).
    static let elementLimit = 1 << 30

    /// The element count of `shape`, refused when it overflows or passes `elementLimit`.
    static func elementCount(_ shape: [Int], described: String) throws -> Int {
        var count = 1
        for size in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= elementLimit else {
                throw WeightsFileError("\(described) declares shape \(shape), larger than any layer of any model; the file is damaged or hostile")
            }
            count = product
        }
        return count
    }

    /// The tensor, once it is known to hold only finite values: NaN or infinity would train nonsense.
    func finite(_ described: String) throws -> ForeignTensor {
        guard values.allSatisfy(\.isFinite) else {
            throw WeightsFileError("\(described) holds NaN or infinite values (a diverged run or a damaged file); it cannot be used")
        }
        return self
    }
}
