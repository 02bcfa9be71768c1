/// A dense float32 tensor in row-major order; images are NHWC. A value: it may cross threads.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not hold \(data.count) values")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// A tensor whose storage is written by `fill` before anyone reads it.
    public init(uninitialized shape: [Int], fill: (UnsafeMutablePointer<Float>) throws -> Void) rethrows {
        let count = shape.reduce(1, *)
        self.shape = shape
        self.data = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try fill(buffer.baseAddress!)
            initialized = count
        }
    }

    public var count: Int { data.count }

    /// The batch size for NHWC and (N, features) tensors.
    public var batch: Int { shape.first ?? 1 }
}

extension Tensor {
    /// The largest absolute value; the scale parity tests compare against.
    public var maxMagnitude: Float { data.reduce(0) { max($0, abs($1)) } }

    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "shapes \(shape) and \(other.shape) differ")
        var worst: Float = 0
        for i in data.indices { worst = max(worst, abs(data[i] - other.data[i])) }
        return worst
    }
}

extension Tensor {
    /// NHWC images mirrored left to right (each row's columns reversed).
    public var mirroredLeftToRight: Tensor {
        precondition(shape.count == 4, "mirroring needs NHWC images, not shape \(shape)")
        let (rows, width, channels) = (shape[0] * shape[1], shape[2], shape[3])
        return data.withUnsafeBufferPointer { source in
            Tensor(uninitialized: shape) { target in
                for row in 0..<rows {
                    let base = row * width * channels
                    for column in 0..<width {
                        let from = base + (width - 1 - column) * channels, to = base + column * channels
                        for c in 0..<channels { target[to + c] = source[from + c] }
                    }
                }
            }
        }
    }
}

extension Collection where Element == Float {
    /// The offset of the largest value, the first on ties; NaN never wins. Nil when there is no number.
    public var argmax: Int? {
        var best: (offset: Int, value: Float)?
        for (offset, value) in enumerated() where !value.isNaN {
            if let current = best, value <= current.value { continue }
            best = (offset, value)
        }
        return best?.offset
    }
}
