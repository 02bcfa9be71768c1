/// Keras `Conv2D`: HWIO kernel, optional bias, optional fused activation.
public final class Conv2D: FusableConvolution {
    public let name: String
    public let kerasClass = "Conv2D"
    public let filters: Int
    public let kernelSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    public let useBias: Bool
    public let activation: ActivationKind
    public private(set) var parameters: [Parameter] = []
    private let cache = ConvolutionCache()
    let gradientCache = ConvolutionGradientCache()

    public init(_ name: String, filters: Int, kernel: (Int, Int), strides: (Int, Int) = (1, 1),
                padding: Padding = .valid, useBias: Bool = true, activation: ActivationKind = .linear) {
        self.name = name
        self.filters = filters
        self.kernelSize = kernel
        self.strides = strides
        self.padding = padding
        self.useBias = useBias
        self.activation = activation
    }

    public func build(inputShapes: [[Int]]) throws -> [Int] {
        let (h, w, c) = try spatialShape(inputShapes, layer: name)
        let window = try WindowGeometry(height: h, width: w, kernel: kernelSize, strides: strides, padding: padding)
        parameters = [Parameter(name: "kernel", shape: [kernelSize.0, kernelSize.1, c, filters])]
        if useBias { parameters.append(Parameter(name: "bias", shape: [filters])) }
        return [window.outputHeight, window.outputWidth, filters]
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor {
        try forward(inputs[0], epilogue: Epilogue(scale: nil, shift: nil, relu: activation == .relu, stamp: []))
    }

    public func forward(_ input: Tensor, epilogue: Epilogue) throws -> Tensor {
        try cache.convolve(input, kernel: parameters[0], bias: useBias ? parameters[1] : nil, filters: filters,
                           kernelSize: kernelSize, strides: strides, padding: padding, depthwise: false, epilogue: epilogue)
    }

    /// The convolution with its epilogue's scale and shift, plus `residual`, then the epilogue's ReLU: a residual
    /// block's last convolution, its BatchNorm, addition and ReLU in one pass over the output.
    func forward(_ input: Tensor, epilogue: Epilogue, adding residual: consuming Tensor) throws -> Tensor {
        try cache.convolve(input, kernel: parameters[0], bias: useBias ? parameters[1] : nil, filters: filters,
                           kernelSize: kernelSize, strides: strides, padding: padding, depthwise: false, epilogue: epilogue,
                           residual: consume residual)
    }
}

/// Keras `DepthwiseConv2D` with depth multiplier 1: kernel (kh, kw, C, 1).
public final class DepthwiseConv2D: FusableConvolution {
    public let name: String
    public let kerasClass = "DepthwiseConv2D"
    public let kernelSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    public let useBias: Bool
    public private(set) var parameters: [Parameter] = []
    public private(set) var filters = 0
    private let cache = ConvolutionCache()
    let gradientCache = ConvolutionGradientCache()

    public init(_ name: String, kernel: (Int, Int), strides: (Int, Int) = (1, 1),
                padding: Padding = .valid, useBias: Bool = true) {
        self.name = name
        self.kernelSize = kernel
        self.strides = strides
        self.padding = padding
        self.useBias = useBias
    }

    public func build(inputShapes: [[Int]]) throws -> [Int] {
        let (h, w, c) = try spatialShape(inputShapes, layer: name)
        let window = try WindowGeometry(height: h, width: w, kernel: kernelSize, strides: strides, padding: padding)
        filters = c
        parameters = [Parameter(name: "depthwise_kernel", shape: [kernelSize.0, kernelSize.1, c, 1])]
        if useBias { parameters.append(Parameter(name: "bias", shape: [c])) }
        return [window.outputHeight, window.outputWidth, c]
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor { try forward(inputs[0], epilogue: .none) }

    public func forward(_ input: Tensor, epilogue: Epilogue) throws -> Tensor {
        try cache.convolve(input, kernel: parameters[0], bias: useBias ? parameters[1] : nil, filters: filters,
                           kernelSize: kernelSize, strides: strides, padding: padding, depthwise: true, epilogue: epilogue)
    }
}

/// Keras `SeparableConv2D` (depth multiplier 1): depthwise then pointwise, nothing between.
public final class SeparableConv2D: FusableConvolution {
    public let name: String
    public let kerasClass = "SeparableConv2D"
    public let filters: Int
    public let kernelSize: (Int, Int)
    public let strides: (Int, Int)
    public let padding: Padding
    public let useBias: Bool
    public private(set) var parameters: [Parameter] = []
    private let depthwiseCache = ConvolutionCache()
    private let pointwiseCache = ConvolutionCache()
    let depthwiseGradients = ConvolutionGradientCache()
    let pointwiseGradients = ConvolutionGradientCache()

    public init(_ name: String, filters: Int, kernel: (Int, Int), strides: (Int, Int) = (1, 1),
                padding: Padding = .valid, useBias: Bool = true) {
        self.name = name
        self.filters = filters
        self.kernelSize = kernel
        self.strides = strides
        self.padding = padding
        self.useBias = useBias
    }

    public func build(inputShapes: [[Int]]) throws -> [Int] {
        let (h, w, c) = try spatialShape(inputShapes, layer: name)
        let window = try WindowGeometry(height: h, width: w, kernel: kernelSize, strides: strides, padding: padding)
        parameters = [
            Parameter(name: "depthwise_kernel", shape: [kernelSize.0, kernelSize.1, c, 1]),
            Parameter(name: "pointwise_kernel", shape: [1, 1, c, filters]),
        ]
        if useBias { parameters.append(Parameter(name: "bias", shape: [filters])) }
        return [window.outputHeight, window.outputWidth, filters]
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor { try forward(inputs[0], epilogue: .none) }

    public func forward(_ input: Tensor, epilogue: Epilogue) throws -> Tensor {
        try pointwise(try depthwise(input), epilogue: epilogue)
    }

    func depthwise(_ input: Tensor) throws -> Tensor {
        let kernel = parameters[0]
        return try depthwiseCache.run(input, filters: input.shape.last ?? 0, kernel: kernelSize, strides: strides,
                                      padding: padding, depthwise: true, hasBias: false, relu: false,
                                      stamp: [kernel.version]) { (kernel.value.data, nil) }
    }

    func pointwise(_ spread: Tensor, epilogue: Epilogue) throws -> Tensor {
        try pointwiseCache.convolve(spread, kernel: parameters[1], bias: useBias ? parameters[2] : nil, filters: filters,
                                    kernelSize: (1, 1), strides: (1, 1), padding: .valid, depthwise: false, epilogue: epilogue,
                                    stamp: parameters.map(\.version))
    }
}

/// The (H, W, C) of a layer's single image input.
func spatialShape(_ shapes: [[Int]], layer: String) throws -> (Int, Int, Int) {
    guard shapes.count == 1, shapes[0].count == 3 else {
        throw ModelError("layer \(layer) expects one (height, width, channels) input, got \(shapes)")
    }
    return (shapes[0][0], shapes[0][1], shapes[0][2])
}
