import CKernels

/// Keras `MaxPooling2D` and `AveragePooling2D`; padded cells never count.
public final class Pooling2D: Layer {
    public enum Kind: Sendable { case max, average }
    public let name: String
    public let kind: Kind
    public let poolSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    public var kerasClass: String { kind == .max ? "MaxPooling2D" : "AveragePooling2D" }
    private var plan: OpaquePointer?
    private var planKey: [Int] = []

    public init(_ name: String, _ kind: Kind, pool: (Int, Int), strides: (Int, Int)? = nil, padding: Padding = .valid) {
        self.name = name
        self.kind = kind
        self.poolSize = pool
        self.strides = strides ?? pool
        self.padding = padding
    }

    deinit { ck_pool_destroy(plan) }

    public func build(inputShapes: [[Int]]) throws -> [Int] {
        let (h, w, c) = try spatialShape(inputShapes, layer: name)
        let window = try WindowGeometry(height: h, width: w, kernel: poolSize, strides: strides, padding: padding)
        return [window.outputHeight, window.outputWidth, c]
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor {
        let x = inputs[0]
        let (n, c) = (x.shape[0], x.shape[3])
        let (window, desc) = try descriptor(x.shape)
        if plan == nil || planKey != x.shape {
            ck_pool_destroy(plan)
            var desc = desc
            plan = ck_pool_create(&desc)
            guard plan != nil else { throw ModelError("\(name): \(String(cString: ck_last_error()))") }
            planKey = x.shape
        }
        let plan = self.plan
        return try Tensor(uninitialized: [n, window.outputHeight, window.outputWidth, c]) { out in
            try kernelCheck(ck_pool_forward(plan, x.data, out), "\(name) forward")
        }
    }

    /// The window geometry and the kernels' description of pooling an NHWC tensor of this shape.
    func descriptor(_ shape: [Int]) throws -> (WindowGeometry, ck_pool_desc) {
        let window = try WindowGeometry(height: shape[1], width: shape[2], kernel: poolSize, strides: strides, padding: padding)
        let desc = ck_pool_desc(
            n: Int32(shape[0]), ih: Int32(shape[1]), iw: Int32(shape[2]), c: Int32(shape[3]),
            kh: Int32(poolSize.0), kw: Int32(poolSize.1), sh: Int32(strides.0), sw: Int32(strides.1),
            pad_t: Int32(window.pads.top), pad_l: Int32(window.pads.left),
            pad_b: Int32(window.pads.bottom), pad_r: Int32(window.pads.right),
            average: kind == .average ? 1 : 0)
        return (window, desc)
    }
}

/// Keras `GlobalAveragePooling2D` / `GlobalMaxPooling2D`: (N, H, W, C) → (N, C).
public final class GlobalPooling2D: Layer {
    public let name: String
    public let kind: Pooling2D.Kind
    public var kerasClass: String { kind == .max ? "GlobalMaxPooling2D" : "GlobalAveragePooling2D" }

    public init(_ name: String, _ kind: Pooling2D.Kind) {
        self.name = name
        self.kind = kind
    }

    public func build(inputShapes: [[Int]]) throws -> [Int] {
        let (_, _, c) = try spatialShape(inputShapes, layer: name)
        return [c]
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor {
        let x = inputs[0]
        let (n, c) = (x.shape[0], x.shape[3])
        return Tensor(uninitialized: [n, c]) { out in
            ck_global_pool(x.data, out, Int32(n), Int32(x.shape[1] * x.shape[2]), Int32(c), kind == .max ? 1 : 0)
        }
    }
}
