/// Keras' padding modes and TensorFlow's rule for placing 'same' padding.
public enum Padding: String, Sendable {
    case same, valid

    /// Output length and the zeros added before and after, for one spatial axis.
    public func geometry(input n: Int, kernel k: Int, stride s: Int) -> (output: Int, before: Int, after: Int) {
        switch self {
        case .valid:
            return ((n - k) / s + 1, 0, 0)
        case .same:
            let output = (n + s - 1) / s
            let total = max((output - 1) * s + k - n, 0)
            return (output, total / 2, total - total / 2)
        }
    }
}

/// Explicit zeros on each side of a feature map.
public struct Pads: Hashable, Sendable {
    public var top, bottom, left, right: Int
    public init(top: Int, bottom: Int, left: Int, right: Int) {
        self.top = top; self.bottom = bottom; self.left = left; self.right = right
    }
}

/// Where a 2-D window (convolution or pooling) lands on an input.
struct WindowGeometry: Hashable {
    let outputHeight, outputWidth: Int
    let pads: Pads

    init(height: Int, width: Int, kernel: (Int, Int), strides: (Int, Int), padding: Padding) throws {
        let rows = padding.geometry(input: height, kernel: kernel.0, stride: strides.0)
        let cols = padding.geometry(input: width, kernel: kernel.1, stride: strides.1)
        guard rows.output > 0, cols.output > 0 else {
            throw ModelError("a \(kernel.0)x\(kernel.1) window does not fit a \(height)x\(width) feature map; use a larger input size")
        }
        outputHeight = rows.output
        outputWidth = cols.output
        pads = Pads(top: rows.before, bottom: rows.after, left: cols.before, right: cols.after)
    }
}
