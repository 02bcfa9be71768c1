import CKernels
import Foundation

/// dLoss/dInput of an activation, from dLoss/dOutput and the output.
func activationGradient(_ kind: ActivationKind, _ gradient: Tensor, output: Tensor) -> Tensor {
    switch kind {
    case .linear:
        return gradient
    case .relu:
        return reluGradient(gradient, output: output)
    case .sigmoid:
        var g = gradient
        for i in g.data.indices { g.data[i] *= output.data[i] * (1 - output.data[i]) }
        return g
    case .softmax:
        let cols = output.shape.last!
        var g = gradient
        for row in 0..<(output.count / cols) {
            var dot: Float = 0
            for k in 0..<cols { dot += gradient.data[row * cols + k] * output.data[row * cols + k] }
            for k in 0..<cols { g.data[row * cols + k] = output.data[row * cols + k] * (gradient.data[row * cols + k] - dot) }
        }
        return g
    }
}

extension InputLayer: Differentiable {
    public func backward(_ pass: BackwardPass) throws -> LayerGradients { LayerGradients(inputs: []) }
}

extension Activation: Differentiable {
    public var backwardReadsInputs: Bool { false }

    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        LayerGradients(inputs: [activationGradient(kind, pass.gradient, output: pass.output)])
    }
}

extension Add: Differentiable {
    public var backwardReadsInputs: Bool { false }
    public var backwardReadsOutput: Bool { false }

    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        LayerGradients(inputs: pass.needsInputGradients.map { $0 ? pass.gradient : nil })
    }
}

extension Flatten: Differentiable {
    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        LayerGradients(inputs: [Tensor(shape: pass.inputs[0].shape, data: pass.gradient.data)])
    }
}

extension Concatenate: Differentiable {
    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        let total = pass.gradient.shape.last!
        let pixels = pass.gradient.count / total
        var offset = 0
        var gradients: [Tensor?] = []
        for (input, needed) in zip(pass.inputs, pass.needsInputGradients) {
            let c = input.shape.last!
            gradients.append(needed ? Tensor(uninitialized: input.shape) {
                ck_split_channels(pass.gradient.data, Int32(total), Int32(offset), $0, Int32(c), pixels)
            } : nil)
            offset += c
        }
        return LayerGradients(inputs: gradients)
    }
}

extension ZeroPadding2D: Differentiable {
    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        let x = pass.inputs[0]
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let outWidth = pass.gradient.shape[2], outHeight = pass.gradient.shape[1]
        var dx = [Float](repeating: 0, count: x.count)
        for b in 0..<n {
            for i in 0..<h {
                let source = ((b * outHeight + i + pads.top) * outWidth + pads.left) * c
                let target = (b * h + i) * w * c
                for k in 0..<(w * c) { dx[target + k] = pass.gradient.data[source + k] }
            }
        }
        return LayerGradients(inputs: [Tensor(shape: x.shape, data: dx)])
    }
}

extension Dropout: Differentiable {
    /// Keras' inverted dropout: keep with probability 1 − rate, scale kept values by 1/(1 − rate).
    public func forwardTraining(_ inputs: [Tensor], context: inout TrainingContext) throws -> (output: Tensor, saved: [Tensor]) {
        guard context.dropoutActive, rate > 0 else { return (inputs[0], []) }
        let keep = 1 - rate
        var mask = Tensor(zeros: inputs[0].shape)
        for i in mask.data.indices { mask.data[i] = Float.random(in: 0..<1, using: &context.rng) < keep ? 1 / keep : 0 }
        var y = inputs[0]
        for i in y.data.indices { y.data[i] *= mask.data[i] }
        return (y, [mask])
    }

    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        guard let mask = pass.saved.first else { return LayerGradients(inputs: [pass.gradient]) }
        var g = pass.gradient
        for i in g.data.indices { g.data[i] *= mask.data[i] }
        return LayerGradients(inputs: [g])
    }
}

extension Dense: Differentiable {
    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        let dy = activationGradient(activation, pass.gradient, output: pass.output)
        return try gradients(logitGradient: dy, input: pass.inputs[0], needsInput: pass.needsInputGradients[0],
                             needsParameters: pass.needsParameterGradients)
    }

    /// Gradients from dLoss/d(x·W + b): dx = dy·Wᵀ, dW = xᵀ·dy, db = Σ dy.
    public func gradients(logitGradient dy: Tensor, input x: Tensor, needsInput: Bool, needsParameters: Bool) throws -> LayerGradients {
        let (m, k, n) = (x.batch, parameters[0].shape[0], units)
        var result = LayerGradients(inputs: [nil])
        if needsInput {
            result.inputs[0] = try Tensor(uninitialized: x.shape) { dx in
                try kernelCheck(ck_sgemm(noTranspose, transpose, m, k, n, 1, dy.data, n, parameters[0].value.data, n, 0, dx, k), "\(name) backward")
            }
        }
        if needsParameters {
            let dw = try Tensor(uninitialized: [k, n]) { dw in
                try kernelCheck(ck_sgemm(transpose, noTranspose, k, n, m, 1, x.data, k, dy.data, n, 0, dw, n), "\(name) weight gradient")
            }
            result.parameters = [dw] + (useBias ? [channelSums(dy)] : [])
        }
        return result
    }

    /// x·W + b without the activation: losses start from logits, as Keras computes them.
    public func logits(_ x: Tensor) throws -> Tensor {
        let m = x.batch, k = parameters[0].shape[0]
        var y = try Tensor(uninitialized: [m, units]) { out in
            try kernelCheck(ck_sgemm(noTranspose, noTranspose, m, units, k, 1, x.data, k, parameters[0].value.data, units, 0, out, units),
                            "\(name) forward")
        }
        if useBias {
            let b = parameters[1].value.data
            for row in 0..<m { for j in 0..<units { y.data[row * units + j] += b[j] } }
        }
        return y
    }
}

extension GlobalPooling2D: Differentiable {
    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        let x = pass.inputs[0]
        let (n, hw, c) = (x.shape[0], x.shape[1] * x.shape[2], x.shape[3])
        var dx = [Float](repeating: 0, count: x.count)
        for b in 0..<n {
            for k in 0..<c {
                let g = pass.gradient.data[b * c + k]
                if kind == .average {
                    for p in 0..<hw { dx[(b * hw + p) * c + k] = g / Float(hw) }
                } else {
                    // The first maximum takes the gradient.
                    var best = 0
                    for p in 1..<max(hw, 1) where x.data[(b * hw + p) * c + k] > x.data[(b * hw + best) * c + k] { best = p }
                    dx[(b * hw + best) * c + k] = g
                }
            }
        }
        return LayerGradients(inputs: [Tensor(shape: x.shape, data: dx)])
    }
}

extension Pooling2D: Differentiable {
    /// Images are split across threads: each writes only its own images' gradient.
    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        let x = pass.inputs[0]
        var (_, desc) = try descriptor(x.shape)
        let images = x.shape[0]
        let threads = min(images, ProcessInfo.processInfo.activeProcessorCount)
        let dx = Tensor(uninitialized: x.shape) { dxp in
            let buffers = PoolingBuffers(x: x.data, dy: pass.gradient.data, dx: dxp)
            withUnsafePointer(to: &desc) { descp in
                let shared = PoolingBuffers.Descriptor(pointer: descp)
                DispatchQueue.concurrentPerform(iterations: threads) { t in
                    let first = images * t / threads, last = images * (t + 1) / threads
                    buffers.x.withUnsafeBufferPointer { xp in
                        buffers.dy.withUnsafeBufferPointer { dyp in
                            ck_pool_backward(shared.pointer, xp.baseAddress, dyp.baseAddress, buffers.dx,
                                             Int32(first), Int32(last - first))
                        }
                    }
                }
            }
        }
        return LayerGradients(inputs: [dx])
    }
}

/// What the pooling threads share: read-only inputs, and an output whose images each thread writes apart.
private struct PoolingBuffers: @unchecked Sendable {
    struct Descriptor: @unchecked Sendable { let pointer: UnsafePointer<ck_pool_desc> }
    let x: [Float]
    let dy: [Float]
    let dx: UnsafeMutablePointer<Float>
}

extension BatchNormalization: Differentiable {
    public var backwardReadsOutput: Bool { false }

    /// Training mode normalises with the batch mean and (biased) variance and moves the averages
    /// with momentum 0.99, as Keras 3 does; inference mode is the fixed affine map.
    public func forwardTraining(_ inputs: [Tensor], context: inout TrainingContext) throws -> (output: Tensor, saved: [Tensor]) {
        guard context.trainsStatistics(self) else { return (try forward(inputs), []) }
        let x = inputs[0]
        let c = x.shape.last!
        let (gamma, beta) = affineParameters()
        var mean = [Float](repeating: 0, count: c), variance = mean
        // Synchronised: the statistics of every process's batch, given to oneDNN as fixed ones.
        var rows: Float?
        if let sync = context.batchNormSync { (mean, variance, rows) = Self.statistics(of: x, over: sync) }
        let y = try Tensor(uninitialized: x.shape) { out in
            try kernelCheck(ck_bnorm_forward(x.data, out, x.count / c, Int32(c), epsilon, rows == nil ? 1 : 0, gamma, beta,
                                             &mean, &variance), "\(name) forward")
        }
        let momentum: Float = 0.99
        let (movingMean, movingVariance) = (statistics.mean, statistics.variance)
        movingMean.value = Tensor(shape: [c], data: (0..<c).map { movingMean.value.data[$0] * momentum + mean[$0] * (1 - momentum) })
        movingVariance.value = Tensor(shape: [c], data: (0..<c).map {
            movingVariance.value.data[$0] * momentum + variance[$0] * (1 - momentum)
        })
        let saved = [Tensor(shape: [c], data: mean), Tensor(shape: [c], data: variance)]
        return (y, saved + (rows.map { [Tensor(shape: [1], data: [$0])] } ?? []))
    }

    /// Per-channel mean and biased variance over the rows of every process, and that row count.
    private static func statistics(of x: Tensor, over sync: Collective) -> (mean: [Float], variance: [Float], rows: Float) {
        let c = x.shape.last!
        var sums = [Double](repeating: 0, count: 2 * c + 1)  // Σx, Σx², rows
        x.data.withUnsafeBufferPointer { p in
            for row in 0..<(p.count / c) {
                for k in 0..<c {
                    let v = Double(p[row * c + k])
                    sums[k] += v
                    sums[c + k] += v * v
                }
            }
        }
        sums[2 * c] = Double(x.count / c)
        sync.sum(&sums)
        let rows = sums[2 * c]
        let mean = (0..<c).map { sums[$0] / rows }
        return (mean.map(Float.init), (0..<c).map { Float(max(sums[c + $0] / rows - mean[$0] * mean[$0], 0)) }, Float(rows))
    }

    public func backward(_ pass: BackwardPass) throws -> LayerGradients {
        let x = pass.inputs[0], dy = pass.gradient
        let c = x.shape.last!
        let training = pass.saved.count >= 2
        // Synchronised statistics are constants to oneDNN, which then gives this process's Σdy and Σdy·x̂; the input
        // gradient, which needs them summed over every process, is computed below.
        let synchronised = pass.saved.count == 3
        let mean = training ? pass.saved[0].data : statistics.mean.value.data
        let variance = training ? pass.saved[1].data : statistics.variance.value.data
        let gamma = affineParameters().gamma
        var dGamma = [Float](repeating: 0, count: c), dBeta = dGamma
        var dx = try Tensor(uninitialized: x.shape) { dxp in
            try kernelCheck(ck_bnorm_backward(x.data, dy.data, x.count / c, Int32(c), epsilon, training && !synchronised ? 1 : 0,
                                              gamma, mean, variance, dxp, &dGamma, &dBeta),
                            "\(name) backward")
        }
        if synchronised, let sync = pass.batchNormSync {
            var sums = (dBeta + dGamma).map(Double.init)  // Σdy, Σdy·x̂ of this process
            sync.sum(&sums)
            let rows = Double(pass.saved[2].data[0])
            let inverse = variance.map { 1 / ($0 + epsilon).squareRoot() }
            let meanGradient = (0..<c).map { Float(sums[$0] / rows) }
            let meanProduct = (0..<c).map { Float(sums[c + $0] / rows) }
            // γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)), the means over every process, from dy as oneDNN does.
            x.data.withUnsafeBufferPointer { xp in
                dy.data.withUnsafeBufferPointer { dyp in
                    dx.data.withUnsafeMutableBufferPointer { dxp in
                        for row in 0..<(xp.count / c) {
                            for k in 0..<c {
                                let i = row * c + k
                                let normalized = (xp[i] - mean[k]) * inverse[k]
                                dxp[i] = gamma[k] * inverse[k] * (dyp[i] - meanGradient[k] - normalized * meanProduct[k])
                            }
                        }
                    }
                }
            }
        }
        var result = LayerGradients(inputs: [pass.needsInputGradients[0] ? dx : nil])
        if pass.needsParameterGradients {
            let zeros = Tensor(zeros: [c])
            result.parameters = (scale ? [Tensor(shape: [c], data: dGamma)] : []) + [Tensor(shape: [c], data: dBeta), zeros, zeros]
        }
        return result
    }

    /// gamma (ones without `scale`) and beta.
    private func affineParameters() -> (gamma: [Float], beta: [Float]) {
        let beta = parameter("beta")!.value.data
        return (parameter("gamma")?.value.data ?? [Float](repeating: 1, count: beta.count), beta)
    }

    private var statistics: (mean: Parameter, variance: Parameter) {
        (parameter("moving_mean")!, parameter("moving_variance")!)
    }
}

private let noTranspose = CChar(UInt8(ascii: "N"))
private let transpose = CChar(UInt8(ascii: "T"))
