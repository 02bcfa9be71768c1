import Core
import Zoo

/// How an exported ONNX graph takes its images.
public struct ONNXExportOptions: Sendable {
    public enum Layout: String, CaseIterable, Sendable {
        /// (batch, height, width, channels), as our models and Keras take images; a Transpose starts the graph.
        case nhwc
        /// (batch, channels, height, width), what most ONNX engines prefer.
        case nchw
    }

    public var layout: Layout
    /// The preprocessing mode the graph applies first, so it takes RGB pixels 0–255; nil for none.
    public var preprocessing: Preprocessing?

    public init(layout: Layout = .nhwc, preprocessing: Preprocessing? = nil) {
        self.layout = layout
        self.preprocessing = preprocessing
    }
}

/// Writes a model as one ONNX graph (opset 13): one mapping per layer kind, computed in NCHW inside.
public enum ONNXExport {
    public static let inputName = "input"
    public static let outputName = "probabilities"

    /// The serialized ModelProto; `metadata` becomes its metadata properties, in this order.
    public static func encode(_ model: Model, options: ONNXExportOptions, metadata: [(String, String)]) throws -> [UInt8] {
        var lowering = ONNXLowering(model: model)
        try lowering.lower(options: options)
        let (h, w, c) = (model.inputShape[0], model.inputShape[1], model.inputShape[2])
        let inputDims: [Int?] = options.layout == .nhwc ? [nil, h, w, c] : [nil, c, h, w]
        let file = ONNXModelFile(
            graphName: model.name, nodes: lowering.graph.nodes, initializers: lowering.graph.initializers,
            input: ONNXValueInfo(name: inputName, dims: inputDims),
            output: ONNXValueInfo(name: outputName, dims: [nil] + model.outputShape),
            metadata: metadata)
        return file.bytes
    }
}

/// Turns a model's nodes, in their order, into ONNX nodes. Feature maps are NCHW, flat features (batch, n).
struct ONNXLowering {
    let model: Model
    var graph = ONNXGraphWriter()
    /// The ONNX value holding each model node's output.
    private var values: [String]
    /// Convolutions whose only reader is a BatchNorm, with that BatchNorm's affine map to fold in.
    private var foldedInto: [Int: Epilogue] = [:]
    /// The BatchNorms and ZeroPaddings folded into a convolution.
    private var foldedAway = Set<Int>()
    /// Convolutions whose only input is a ZeroPadding2D read by nothing else, with its zeros to add to their own.
    private var paddedBy: [Int: Pads] = [:]

    init(model: Model) {
        self.model = model
        values = Array(repeating: "", count: model.nodes.count)
        var readers = Array(repeating: 0, count: model.nodes.count)
        for node in model.nodes { for i in node.inputs { readers[i] += 1 } }
        for (n, node) in model.nodes.enumerated() {
            guard let norm = node.layer as? BatchNormalization, let source = node.inputs.first,
                  readers[source] == 1, source != model.output, Self.canFold(model.nodes[source].layer) else { continue }
            foldedInto[source] = norm.inferenceAffine()
            foldedAway.insert(n)
        }
        for (n, node) in model.nodes.enumerated() where node.layer is FusableConvolution {
            guard let source = node.inputs.first, readers[source] == 1,
                  let padding = model.nodes[source].layer as? ZeroPadding2D else { continue }
            paddedBy[n] = padding.pads
            foldedAway.insert(source)
        }
    }

    /// Inference-mode BatchNorm is a per-channel affine map, exact to fold into a convolution without activation.
    private static func canFold(_ layer: any Layer) -> Bool {
        switch layer {
        case let conv as Conv2D: return conv.activation == .linear
        case is DepthwiseConv2D, is SeparableConv2D: return true
        default: return false
        }
    }

    mutating func lower(options: ONNXExportOptions) throws {
        for (n, node) in model.nodes.enumerated() {
            if n == 0 {
                values[0] = try input(options)
            } else if foldedAway.contains(n) {
                values[n] = values[node.inputs[0]]
            } else {
                values[n] = try lower(node, index: n)
            }
        }
        graph.rename(values[model.output], to: ONNXExport.outputName)
    }

    private mutating func input(_ options: ONNXExportOptions) throws -> String {
        var x = graph.reserve(ONNXExport.inputName)
        if options.layout == .nhwc {
            x = graph.node("Transpose", "input_to_nchw", [x], [("perm", .ints([0, 3, 1, 2]))])
        }
        guard let mode = options.preprocessing else { return x }
        let affine = try ChannelAffine(mode)
        if affine.source != [0, 1, 2] {
            let order = graph.constant("preprocessing/channel_order", dims: [3], int64: affine.source)
            x = graph.node("Gather", "preprocessing/reorder", [x, order], [("axis", .int(1))])
        }
        let scale = graph.constant("preprocessing/factors", dims: [1, 3, 1, 1], affine.scale)
        let offset = graph.constant("preprocessing/offsets", dims: [1, 3, 1, 1], affine.offset)
        x = graph.node("Mul", "preprocessing/scale", [x, scale])
        return graph.node("Add", "preprocessing/offset", [x, offset])
    }

    private mutating func lower(_ node: Node, index n: Int) throws -> String {
        let inputs = node.inputs.map { values[$0] }
        let x = inputs[0]
        let inputShape = model.nodes[node.inputs[0]].outputShape
        let layer = node.layer
        let name = layer.name
        switch layer {
        case let l as Conv2D:
            let kernel = ConvolutionWeights(hwio: l.parameters[0].value, bias: l.useBias ? l.parameters[1].value.data : nil)
            let y = convolution(x, name, kernel.folding(foldedInto[n]), window: (l.strides, l.padding), inputShape: inputShape,
                                padded: paddedBy[n])
            return activation(l.activation, y, name, rank: 4)
        case let l as DepthwiseConv2D:
            let kernel = ConvolutionWeights(depthwise: l.parameters[0].value, bias: l.useBias ? l.parameters[1].value.data : nil)
            return convolution(x, name, kernel.folding(foldedInto[n]), window: (l.strides, l.padding), inputShape: inputShape,
                               padded: paddedBy[n])
        case let l as SeparableConv2D:
            let spread = convolution(x, "\(name)/depthwise", ConvolutionWeights(depthwise: l.parameters[0].value, bias: nil),
                                     window: (l.strides, l.padding), inputShape: inputShape, padded: paddedBy[n])
            let pointwise = ConvolutionWeights(hwio: l.parameters[1].value, bias: l.useBias ? l.parameters[2].value.data : nil)
            // A 1x1 'valid' window adds no zeros, whatever the input size.
            return convolution(spread, name, pointwise.folding(foldedInto[n]), window: ((1, 1), .valid), inputShape: inputShape)
        case let l as BatchNormalization:
            let affine = l.inferenceAffine()
            let dims = inputShape.count == 3 ? [inputShape[2], 1, 1] : [inputShape[0]]
            let scale = graph.constant("\(name)/scale", dims: dims, affine.scale!)
            let shift = graph.constant("\(name)/shift", dims: dims, affine.shift!)
            return graph.node("Add", name, [graph.node("Mul", "\(name)/mul", [x, scale]), shift])
        case let l as Activation:
            return activation(l.kind, x, name, rank: inputShape.count + 1)
        case let l as Pooling2D:
            let op = l.kind == .max ? "MaxPool" : "AveragePool"
            var attributes = window(kernel: l.poolSize, strides: l.strides, padding: l.padding, inputShape: inputShape)
            if l.kind == .average { attributes.append(("count_include_pad", .int(0))) }
            return graph.node(op, name, [x], attributes)
        case let l as GlobalPooling2D:
            let pooled = graph.node(l.kind == .max ? "GlobalMaxPool" : "GlobalAveragePool", "\(name)/pool", [x])
            return graph.node("Flatten", name, [pooled], [("axis", .int(1))])
        case let l as ZeroPadding2D:
            let p = l.pads
            let pads = graph.constant("\(name)/pads", dims: [8], int64: [0, 0, p.top, p.left, 0, 0, p.bottom, p.right])
            return graph.node("Pad", name, [x, pads])
        case is Add:
            return graph.node("Add", name, inputs)
        case is Concatenate:
            return graph.node("Concat", name, inputs, [("axis", .int(inputShape.count == 3 ? 1 : -1))])
        case is Flatten:
            guard inputShape.count == 3 else { return x }
            // Keras flattens (H, W, C) row-major: back to NHWC first, so the next Dense's rows line up.
            let nhwc = graph.node("Transpose", "\(name)/to_nhwc", [x], [("perm", .ints([0, 2, 3, 1]))])
            return graph.node("Flatten", name, [nhwc], [("axis", .int(1))])
        case let l as Dense:
            let kernel = graph.constant("\(name)/kernel", dims: l.parameters[0].shape, l.parameters[0].value.data)
            let bias = l.useBias ? [graph.constant("\(name)/bias", dims: [l.units], l.parameters[1].value.data)] : []
            let y = graph.node("Gemm", l.activation == .linear ? name : "\(name)/linear", [x, kernel] + bias)
            return activation(l.activation, y, name, rank: 2)
        case is Dropout:
            return x
        default:
            throw ExportError("layer \(name) (\(layer.kerasClass)) has no ONNX equivalent here; it cannot be exported")
        }
    }

    /// A Conv node; `inputShape` is the (H, W, C) it reads, which decides where 'same' puts its zeros, and
    /// `padded` the zeros of a ZeroPadding2D before it, folded into the same pads.
    private mutating func convolution(_ x: String, _ name: String, _ weights: ConvolutionWeights,
                                      window: ((Int, Int), Padding), inputShape: [Int], padded: Pads? = nil) -> String {
        let kernel = graph.constant("\(name)/kernel", dims: weights.dims, weights.kernel)
        let bias = weights.bias.map { [graph.constant("\(name)/bias", dims: [$0.count], $0)] } ?? []
        let size = (weights.dims[2], weights.dims[3])
        var attributes = self.window(kernel: size, strides: window.0, padding: window.1, inputShape: inputShape, padded: padded)
        attributes.append(("group", .int(weights.groups)))
        return graph.node("Conv", name, [x, kernel] + bias, attributes)
    }

    /// kernel_shape, strides and explicit pads [top, left, bottom, right]: TensorFlow's 'same' may pad
    /// one more zero after than before, which ONNX's auto_pad would place differently.
    private func window(kernel: (Int, Int), strides: (Int, Int), padding: Padding, inputShape: [Int],
                        padded: Pads? = nil) -> [(String, ONNXAttributeValue)] {
        let rows = padding.geometry(input: inputShape[0], kernel: kernel.0, stride: strides.0)
        let cols = padding.geometry(input: inputShape[1], kernel: kernel.1, stride: strides.1)
        let p = padded ?? Pads(top: 0, bottom: 0, left: 0, right: 0)
        return [("kernel_shape", .ints([kernel.0, kernel.1])), ("strides", .ints([strides.0, strides.1])),
                ("pads", .ints([p.top + rows.before, p.left + cols.before, p.bottom + rows.after, p.right + cols.after]))]
    }

    /// The activation after a layer named `name`; softmax is over channels (axis 1 in NCHW, the last otherwise).
    private mutating func activation(_ kind: ActivationKind, _ x: String, _ name: String, rank: Int) -> String {
        switch kind {
        case .linear: return x
        case .relu: return graph.node("Relu", "\(name)/relu", [x])
        case .sigmoid: return graph.node("Sigmoid", "\(name)/sigmoid", [x])
        case .softmax: return graph.node("Softmax", "\(name)/softmax", [x], [("axis", .int(rank == 4 ? 1 : -1))])
        }
    }
}

/// A convolution's weights in ONNX's layout: kernel (out, in / groups, kh, kw) and bias.
struct ConvolutionWeights {
    let kernel: [Float]
    let dims: [Int]
    let bias: [Float]?
    let groups: Int

    /// From Keras' (kh, kw, in, out) kernel.
    init(hwio: Tensor, bias: [Float]?) {
        let (kh, kw, ci, co) = (hwio.shape[0], hwio.shape[1], hwio.shape[2], hwio.shape[3])
        kernel = Self.transposed(hwio.data, kh: kh, kw: kw, ci: ci, co: co)
        dims = [co, ci, kh, kw]
        self.bias = bias
        groups = 1
    }

    /// From Keras' depthwise (kh, kw, channels, 1) kernel: one group per channel.
    init(depthwise: Tensor, bias: [Float]?) {
        let (kh, kw, c) = (depthwise.shape[0], depthwise.shape[1], depthwise.shape[2])
        // (1, c, kh, kw) and (c, 1, kh, kw) hold the same bytes.
        kernel = Self.transposed(depthwise.data, kh: kh, kw: kw, ci: c, co: 1)
        dims = [c, 1, kh, kw]
        self.bias = bias
        groups = c
    }

    private init(kernel: [Float], dims: [Int], bias: [Float]?, groups: Int) {
        self.kernel = kernel
        self.dims = dims
        self.bias = bias
        self.groups = groups
    }

    private static func transposed(_ k: [Float], kh: Int, kw: Int, ci: Int, co: Int) -> [Float] {
        var out = [Float](repeating: 0, count: k.count)
        for y in 0..<kh {
            for x in 0..<kw {
                for i in 0..<ci {
                    for o in 0..<co { out[((o * ci + i) * kh + y) * kw + x] = k[((y * kw + x) * ci + i) * co + o] }
                }
            }
        }
        return out
    }

    /// The weights with a following BatchNorm's per-output-channel scale and shift folded in.
    func folding(_ affine: Epilogue?) -> ConvolutionWeights {
        guard let scale = affine?.scale, let shift = affine?.shift else { return self }
        let outputs = dims[0]
        let perOutput = kernel.count / outputs
        var k = kernel
        for i in k.indices { k[i] *= scale[i / perOutput] }
        let b = (0..<outputs).map { o in (bias?[o] ?? 0) * scale[o] + shift[o] }
        return ConvolutionWeights(kernel: k, dims: dims, bias: b, groups: groups)
    }
}

/// A preprocessing mode as what it is: output channel c = input channel source[c] · scale[c] + offset[c].
/// Found by applying the mode to probe pixels, so every mode (caffe, tf, torch, …) exports the same way.
struct ChannelAffine {
    let source: [Int]
    let scale: [Float]
    let offset: [Float]

    init(_ mode: Preprocessing) throws {
        // Black, pure red, green and blue, then a check pixel.
        let probe: [Float] = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 100, 200]
        var x = Tensor(shape: [1, 1, 5, 3], data: probe)
        mode.apply(to: &x)
        let y = x.data
        let offset = Array(y[0..<3])
        var source = [Int](repeating: -1, count: 3)
        var scale = [Float](repeating: 0, count: 3)
        for input in 0..<3 {
            for c in 0..<3 where y[3 + 3 * input + c] != offset[c] {
                guard source[c] == -1 else { throw Self.notAffine(mode) }
                source[c] = input
                scale[c] = (y[3 + 3 * input + c] - offset[c]) / 255
            }
        }
        guard !source.contains(-1) else { throw Self.notAffine(mode) }
        for c in 0..<3 {
            let expected = probe[12 + source[c]] * scale[c] + offset[c]
            guard abs(expected - y[12 + c]) <= 1e-4 * max(1, abs(expected)) else { throw Self.notAffine(mode) }
        }
        self.source = source
        self.scale = scale
        self.offset = offset
    }

    private static func notAffine(_ mode: Preprocessing) -> ExportError {
        .preprocessingNotAffine(mode: mode.rawValue)
    }
}
