import CKernels

/// oneDNN's backward-data and backward-weights primitives for one convolution shape.
final class ConvolutionGradientCache {
    private var plan: OpaquePointer?
    private var planKey: [Int] = []
    private var kernelVersion: Int?

    deinit { ck_conv_grad_destroy(plan) }

    struct Result {
        var input: Tensor?
        var kernel: Tensor?
        var bias: Tensor?
    }

    func backward(input: Tensor, gradient: Tensor, kernel: Parameter, filters: Int, kernelSize: (Int, Int),
                  strides: (Int, Int), padding: Padding, depthwise: Bool, hasBias: Bool,
                  needsInput: Bool, needsWeights: Bool) throws -> Result {
        let (desc, _) = try convolutionDescriptor(input.shape, filters: filters, kernel: kernelSize, strides: strides,
                                                  padding: padding, depthwise: depthwise, hasBias: hasBias, relu: false)
        let key = input.shape + [hasBias ? 1 : 0, needsInput ? 1 : 0]
        if plan == nil || key != planKey {
            ck_conv_grad_destroy(plan)
            var desc = desc
            plan = ck_conv_grad_create(&desc, needsInput ? 1 : 0)
            guard plan != nil else { throw ModelError("convolution gradient \(key): \(String(cString: ck_last_error()))") }
            planKey = key
            kernelVersion = nil
        }
        if needsInput && kernelVersion != kernel.version {
            try kernelCheck(ck_conv_grad_set_weights(plan, kernel.value.data), "loading convolution weights for backward")
            kernelVersion = kernel.version
        }
        var result = Result()
        let plan = self.plan
        // oneDNN writes every element of each gradient it is given.
        var dx: [Float]? = needsInput ? uninitializedArray(input.count) : nil
        var dk: [Float]? = needsWeights ? uninitializedArray(kernel.value.count) : nil
        var db: [Float]? = needsWeights && hasBias ? uninitializedArray(filters) : nil
        try input.data.withUnsafeBufferPointer { src in
            try gradient.data.withUnsafeBufferPointer { dy in
                try withOptionalPointer(&dx) { dxp in
                    try withOptionalPointer(&dk) { dkp in
                        try withOptionalPointer(&db) { dbp in
                            try kernelCheck(ck_conv_backward(plan, src.baseAddress, dy.baseAddress, dxp, dkp, dbp),
                                            "convolution backward")
                        }
                    }
                }
            }
        }
        result.input = dx.map { Tensor(shape: input.shape, data: $0) }
        result.kernel = dk.map { Tensor(shape: kernel.shape, data: $0) }
        result.bias = db.map { Tensor(shape: [filters], data: $0) }
        return result
    }
}

/// Storage for a kernel to fill; reading it first would read garbage.
private func uninitializedArray(_ count: Int) -> [Float] {
    [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
}

private func withOptionalPointer<R>(_ array: inout [Float]?, _ body: (UnsafeMutablePointer<Float>?) throws -> R) rethrows -> R {
    guard array != nil else { return try body(nil) }
    return try array!.withUnsafeMutableBufferPointer { try body($0.baseAddress) }
}

extension Conv2D: Differentiable {
    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        let gradient = activation == .relu ? reluGradient(pass.gradient, output: pass.output) : pass.gradient
        let r = try gradientCache.backward(
            input: pass.inputs[0], gradient: gradient, kernel: parameters[0], filters: filters, kernelSize: kernelSize,
            strides: strides, padding: padding, depthwise: false, hasBias: useBias,
            needsInput: pass.needsInputGradients[0], needsWeights: pass.needsParameterGradients)
        return LayerGradients(inputs: [r.input], parameters: [r.kernel, r.bias].compactMap { $0 })
    }
}

extension DepthwiseConv2D: Differentiable {
    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        let r = try gradientCache.backward(
            input: pass.inputs[0], gradient: pass.gradient, kernel: parameters[0], filters: filters, kernelSize: kernelSize,
            strides: strides, padding: padding, depthwise: true, hasBias: useBias,
            needsInput: pass.needsInputGradients[0], needsWeights: pass.needsParameterGradients)
        return LayerGradients(inputs: [r.input], parameters: [r.kernel, r.bias].compactMap { $0 })
    }
}

extension SeparableConv2D: Differentiable {
    /// Keeps the depthwise output, which the pointwise weight gradient needs.
    public func forwardTraining(_ inputs: [Tensor], context: inout TrainingContext) throws -> (output: Tensor, saved: [Tensor]) {
        let spread = try depthwise(inputs[0])
        return (try pointwise(spread, epilogue: .none), [spread])
    }

    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        let spread = pass.saved[0]
        let channels = spread.shape[3]
        let point = try pointwiseGradients.backward(
            input: spread, gradient: pass.gradient, kernel: parameters[1], filters: filters, kernelSize: (1, 1),
            strides: (1, 1), padding: .valid, depthwise: false, hasBias: useBias,
            needsInput: true, needsWeights: pass.needsParameterGradients)
        let depth = try depthwiseGradients.backward(
            input: pass.inputs[0], gradient: point.input!, kernel: parameters[0], filters: channels, kernelSize: kernelSize,
            strides: strides, padding: padding, depthwise: true, hasBias: false,
            needsInput: pass.needsInputGradients[0], needsWeights: pass.needsParameterGradients)
        return LayerGradients(inputs: [depth.input], parameters: [depth.kernel, point.kernel, point.bias].compactMap { $0 })
    }
}
