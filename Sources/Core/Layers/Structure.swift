import CKernels
import Foundation

/// Keras `InputLayer`: the graph's entry; holds the expected (H, W, C).
public final class InputLayer: Layer {
    public let name: String
    public let kerasClass = "InputLayer"
    public let shape: [Int]

    public init(_ name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }

    public func build(inputShapes: [[Int]]) throws -> [Int] { shape }
    public func forward(_ inputs: [Tensor]) throws -> Tensor { inputs[0] }
}

/// Keras `ZeroPadding2D`.
public final class ZeroPadding2D: Layer {
    public let name: String
    public let kerasClass = "ZeroPadding2D"
    public let pads: Pads

    public init(_ name: String, _ pads: Pads) {
        self.name = name
        self.pads = pads
    }

    public convenience init(_ name: String, _ all: Int) {
        self.init(name, Pads(top: all, bottom: all, left: all, right: all))
    }

    public func build(inputShapes: [[Int]]) throws -> [Int] {
        let (h, w, c) = try spatialShape(inputShapes, layer: name)
        return [h + pads.top + pads.bottom, w + pads.left + pads.right, c]
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor {
        let x = inputs[0]
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let shape = [n, h + pads.top + pads.bottom, w + pads.left + pads.right, c]
        return Tensor(uninitialized: shape) { out in
            ck_zero_pad(x.data, out, Int32(n), Int32(h), Int32(w), Int32(c),
                        Int32(pads.top), Int32(pads.bottom), Int32(pads.left), Int32(pads.right))
        }
    }
}

/// Keras `Add` of two tensors of the same shape.
public final class Add: Layer {
    public let name: String
    public let kerasClass = "Add"

    public init(_ name: String) { self.name = name }

    public func build(inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 2, inputShapes[0] == inputShapes[1] else {
            throw ModelError("layer \(name) adds two tensors of one shape, got \(inputShapes)")
        }
        return inputShapes[0]
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor { try add(inputs[0], inputs[1], relu: false) }

    /// The sum, optionally through a ReLU (ResNet's `_add` followed by `_out`).
    public func add(_ a: Tensor, _ b: Tensor, relu: Bool) throws -> Tensor {
        try Tensor(uninitialized: a.shape) { out in
            try kernelCheck(ck_add(a.data, b.data, out, a.count, relu ? 1 : 0), "\(name) forward")
        }
    }
}

/// Keras `Concatenate` on the channel axis.
public final class Concatenate: Layer {
    public let name: String
    public let kerasClass = "Concatenate"

    public init(_ name: String) { self.name = name }

    public func build(inputShapes: [[Int]]) throws -> [Int] {
        guard let first = inputShapes.first, inputShapes.allSatisfy({ $0.dropLast() == first.dropLast() }) else {
            throw ModelError("layer \(name) concatenates tensors with equal height and width, got \(inputShapes)")
        }
        return first.dropLast() + [inputShapes.reduce(0) { $0 + $1.last! }]
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor {
        let channels = inputs.map { Int32($0.shape.last!) }
        let pixels = inputs[0].count / Int(channels[0])
        let shape = inputs[0].shape.dropLast() + [Int(channels.reduce(0, +))]
        return try Tensor(uninitialized: Array(shape)) { out in
            try withPointers(inputs.map(\.data)) { sources in
                try kernelCheck(ck_concat_channels(sources, channels, Int32(inputs.count), out, pixels),
                                "\(name) forward")
            }
        }
    }
}

/// Calls `body` with stable pointers to each array's storage.
private func withPointers<R>(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>?]) throws -> R) rethrows -> R {
    func step(_ index: Int, _ collected: [UnsafePointer<Float>?]) throws -> R {
        if index == arrays.count { return try body(collected) }
        return try arrays[index].withUnsafeBufferPointer { try step(index + 1, collected + [$0.baseAddress]) }
    }
    return try step(0, [])
}

/// Keras `Flatten`: row-major over (H, W, C).
public final class Flatten: Layer {
    public let name: String
    public let kerasClass = "Flatten"

    public init(_ name: String) { self.name = name }

    public func build(inputShapes: [[Int]]) throws -> [Int] { [inputShapes[0].reduce(1, *)] }

    public func forward(_ inputs: [Tensor]) throws -> Tensor {
        Tensor(shape: [inputs[0].batch, inputs[0].count / inputs[0].batch], data: inputs[0].data)
    }
}

/// Keras `Dropout`: the identity at inference.
public final class Dropout: Layer {
    public let name: String
    public let kerasClass = "Dropout"
    public let rate: Float

    public init(_ name: String, rate: Float) {
        self.name = name
        self.rate = rate
    }

    public func build(inputShapes: [[Int]]) throws -> [Int] { inputShapes[0] }
    public func forward(_ inputs: [Tensor]) throws -> Tensor { inputs[0] }
}

/// Keras `Activation` (relu or softmax over the last axis).
public final class Activation: Layer {
    public let name: String
    public let kerasClass = "Activation"
    public let kind: ActivationKind

    public init(_ name: String, _ kind: ActivationKind) {
        self.name = name
        self.kind = kind
    }

    public func build(inputShapes: [[Int]]) throws -> [Int] { inputShapes[0] }

    public func forward(_ inputs: [Tensor]) throws -> Tensor { apply(kind, to: inputs[0]) }
}

/// Applies an activation to a whole tensor (softmax over the last axis).
func apply(_ kind: ActivationKind, to x: Tensor) -> Tensor {
    var y = x
    switch kind {
    case .linear: break
    case .relu: return Tensor(uninitialized: x.shape) { _ = ck_relu(x.data, $0, x.count) }
    case .softmax:
        let cols = x.shape.last!
        y.data.withUnsafeMutableBufferPointer { ck_softmax($0.baseAddress, Int32(x.count / cols), Int32(cols)) }
    case .sigmoid:
        for i in y.data.indices { y.data[i] = 1 / (1 + Foundation.exp(-y.data[i])) }
    }
    return y
}
