import CKernels

/// A oneDNN convolution for one input shape, holding weights reordered into oneDNN's layout.
/// Rebuilt when the input shape or epilogue changes; re-fed when the weights change.
final class ConvolutionCache {
    private var plan: OpaquePointer?
    private var planKey: [Int] = []
    private var weightsStamp: [Int]?

    deinit { ck_conv_destroy(plan) }

    /// Convolves `input` (NHWC), adding `residual` before the ReLU when given; `weights` is only called when
    /// `stamp` differs from the last call.
    func run(_ input: Tensor, filters: Int, kernel: (Int, Int), strides: (Int, Int), padding: Padding,
             depthwise: Bool, hasBias: Bool, relu: Bool, residual: consuming Tensor? = nil, stamp: [Int],
             weights: () -> (kernel: [Float], bias: [Float]?)) throws -> Tensor {
        var (desc, window) = try convolutionDescriptor(input.shape, filters: filters, kernel: kernel, strides: strides,
                                                       padding: padding, depthwise: depthwise, hasBias: hasBias, relu: relu)
        desc.accumulate = residual == nil ? 0 : 1
        let key = input.shape + [hasBias ? 1 : 0, relu ? 1 : 0, Int(desc.accumulate)]
        if plan == nil || key != planKey {
            ck_conv_destroy(plan)
            var desc = desc
            plan = ck_conv_create(&desc)
            guard plan != nil else { throw ModelError("convolution \(key): \(String(cString: ck_last_error()))") }
            planKey = key
            weightsStamp = nil
        }
        if weightsStamp != stamp {
            let (k, b) = weights()
            try kernelCheck(ck_conv_set_weights(plan, k, b), "loading convolution weights")
            weightsStamp = stamp
        }
        let plan = self.plan
        let shape = [input.shape[0], window.outputHeight, window.outputWidth, filters]
        guard residual != nil else {
            return try Tensor(uninitialized: shape) { out in
                try input.data.withUnsafeBufferPointer { src in
                    try kernelCheck(ck_conv_forward(plan, src.baseAddress, out), "convolution forward")
                }
            }
        }
        var sum = (consume residual)!
        guard sum.shape == shape else { throw ModelError("cannot add a \(sum.shape) tensor to a \(shape) convolution output") }
        // oneDNN adds the convolution to what the output holds: the residual, written over in place.
        try input.data.withUnsafeBufferPointer { src in
            try sum.data.withUnsafeMutableBufferPointer { out in
                try kernelCheck(ck_conv_forward(plan, src.baseAddress, out.baseAddress), "convolution forward")
            }
        }
        return sum
    }
}

extension ConvolutionCache {
    /// Convolves with `kernel` and `bias` after folding `epilogue` into them; `stamp` (default: the
    /// two parameters' versions) says when the folded weights must be recomputed.
    func convolve(_ input: Tensor, kernel: Parameter, bias: Parameter?, filters: Int, kernelSize: (Int, Int),
                  strides: (Int, Int), padding: Padding, depthwise: Bool, epilogue: Epilogue, residual: consuming Tensor? = nil,
                  stamp: [Int]? = nil) throws -> Tensor {
        let versions = stamp ?? [kernel.version, bias?.version ?? 0]
        return try run(input, filters: filters, kernel: kernelSize, strides: strides, padding: padding, depthwise: depthwise,
                       hasBias: bias != nil || epilogue.shift != nil, relu: epilogue.relu, residual: consume residual,
                       stamp: versions + epilogue.stamp) {
            epilogue.fold(kernel: kernel.value.data, bias: bias?.value.data, channels: filters)
        }
    }
}

/// oneDNN's description of a convolution over an NHWC input, with TensorFlow's padding placement.
func convolutionDescriptor(_ shape: [Int], filters: Int, kernel: (Int, Int), strides: (Int, Int), padding: Padding,
                           depthwise: Bool, hasBias: Bool, relu: Bool) throws -> (ck_conv_desc, WindowGeometry) {
    guard shape.count == 4 else { throw ModelError("convolution expects NHWC input, got shape \(shape)") }
    let (n, h, w, c) = (shape[0], shape[1], shape[2], shape[3])
    let window = try WindowGeometry(height: h, width: w, kernel: kernel, strides: strides, padding: padding)
    let desc = ck_conv_desc(
        n: Int32(n), ih: Int32(h), iw: Int32(w), ic: Int32(c), oc: Int32(filters),
        kh: Int32(kernel.0), kw: Int32(kernel.1), sh: Int32(strides.0), sw: Int32(strides.1),
        pad_t: Int32(window.pads.top), pad_l: Int32(window.pads.left),
        pad_b: Int32(window.pads.bottom), pad_r: Int32(window.pads.right),
        depthwise: depthwise ? 1 : 0, has_bias: hasBias ? 1 : 0, relu: relu ? 1 : 0, accumulate: 0)
    return (desc, window)
}

extension Epilogue {
    /// Applies the folded BatchNorm to a kernel whose last axis is the output channel.
    func fold(kernel: [Float], bias: [Float]?, channels: Int) -> (kernel: [Float], bias: [Float]?) {
        guard let scale, let shift else { return (kernel, bias) }
        var k = kernel
        for i in k.indices { k[i] *= scale[i % channels] }
        var b = [Float](repeating: 0, count: channels)
        for o in 0..<channels { b[o] = (bias?[o] ?? 0) * scale[o] + shift[o] }
        return (k, b)
    }
}
