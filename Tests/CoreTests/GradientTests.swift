import Core
import XCTest

/// Every layer's backward pass against central finite differences of
/// L = Σ r ⊙ layer(x) for a fixed random r.
final class GradientTests: XCTestCase {
    /// `eps` is the finite-difference step: small where a ReLU kink could fall inside it.
    private func check(_ layer: any Differentiable, inputs: [Tensor], batchNormTraining: Bool = false,
                       eps: Float = 1e-2, tolerance: Float = 2e-2, file: StaticString = #filePath, line: UInt = #line) throws {
        _ = try layer.build(inputShapes: inputs.map { Array($0.shape.dropFirst()) })
        for (i, p) in layer.parameters.enumerated() where p.trainable {
            p.value = Reference.random(p.shape, seed: 500 + UInt64(i), scale: 0.5)
            if p.name == "gamma" || p.name == "moving_variance" { p.value.data = p.value.data.map { abs($0) + 0.5 } }
        }
        if let bn = layer as? BatchNormalization {
            bn.parameter("moving_variance")!.value = Reference.random(bn.parameter("moving_variance")!.shape, seed: 9).mapAbs(plus: 0.5)
            bn.parameter("moving_mean")!.value = Reference.random(bn.parameter("moving_mean")!.shape, seed: 10)
        }
        func context() -> TrainingContext {
            var context = TrainingContext(seed: 42)
            if batchNormTraining { context.batchNormTraining = [ObjectIdentifier(layer)] }
            return context
        }
        var ctx = context()
        let (output, saved) = try layer.forwardTraining(inputs, context: &ctx)
        let r = Reference.random(output.shape, seed: 77)
        let grads = try layer.backward(BackwardPass(inputs: inputs, output: output, gradient: r, saved: saved,
                                                    needsInputGradients: inputs.map { _ in true }, needsParameterGradients: true))
        let frozen = layer.parameters.map(\.value)
        func loss(_ xs: [Tensor]) throws -> Double {
            var ctx = context()
            let y = try layer.forwardTraining(xs, context: &ctx).output
            for (p, v) in zip(layer.parameters, frozen) where !p.trainable { p.value = v }
            return zip(y.data, r.data).reduce(0) { $0 + Double($1.0) * Double($1.1) }
        }
        var rng = SeededGenerator(seed: 3)
        for (index, x) in inputs.enumerated() {
            let dx = try XCTUnwrap(grads.inputs[index], "input gradient \(index)", file: file, line: line)
            for _ in 0..<12 {
                let k = Int.random(in: 0..<x.count, using: &rng)
                var plus = inputs, minus = inputs
                plus[index].data[k] += eps
                minus[index].data[k] -= eps
                let numeric = Float((try loss(plus) - loss(minus)) / Double(2 * eps))
                XCTAssertEqual(dx.data[k], numeric, accuracy: tolerance * max(1, abs(numeric)),
                               "\(layer.name) d input \(index)[\(k)]", file: file, line: line)
            }
        }
        for (p, dp) in zip(layer.parameters, grads.parameters) where p.trainable {
            for _ in 0..<8 {
                let k = Int.random(in: 0..<p.value.count, using: &rng)
                let original = p.value
                p.value.data[k] += eps
                let up = try loss(inputs)
                p.value = original
                p.value.data[k] -= eps
                let down = try loss(inputs)
                p.value = original
                let numeric = Float((up - down) / Double(2 * eps))
                XCTAssertEqual(dp.data[k], numeric, accuracy: tolerance * max(1, abs(numeric)),
                               "\(layer.name) d \(p.name)[\(k)]", file: file, line: line)
            }
        }
    }

    func testConvolutions() throws {
        let x = Reference.random([2, 7, 8, 3], seed: 1)
        try check(Conv2D("same_s2_bias", filters: 4, kernel: (3, 3), strides: (2, 2), padding: .same), inputs: [x])
        try check(Conv2D("valid_nobias", filters: 4, kernel: (1, 7), padding: .valid, useBias: false), inputs: [x])
        try check(Conv2D("relu", filters: 4, kernel: (3, 3), padding: .same, activation: .relu), inputs: [x], eps: 1e-3)
        try check(DepthwiseConv2D("depthwise", kernel: (3, 3), strides: (2, 2), padding: .same), inputs: [x])
        try check(SeparableConv2D("separable", filters: 5, kernel: (3, 3), padding: .same, useBias: false), inputs: [x])
    }

    func testBatchNormalization() throws {
        let x = Reference.random([3, 4, 5, 6], seed: 2)
        try check(BatchNormalization("bn_inference", epsilon: 1e-3), inputs: [x])
        try check(BatchNormalization("bn_no_gamma", epsilon: 1e-3, scale: false), inputs: [x])
        try check(BatchNormalization("bn_training", epsilon: 1e-3), inputs: [x], batchNormTraining: true)
    }

    func testPoolingPaddingAndStructure() throws {
        let x = Reference.random([2, 7, 6, 3], seed: 3)
        try check(Pooling2D("max_same", .max, pool: (3, 3), strides: (2, 2), padding: .same), inputs: [x])
        try check(Pooling2D("max_valid", .max, pool: (2, 2)), inputs: [x])
        try check(Pooling2D("avg_same", .average, pool: (3, 3), strides: (1, 1), padding: .same), inputs: [x])
        try check(GlobalPooling2D("gap", .average), inputs: [x])
        try check(GlobalPooling2D("gmp", .max), inputs: [x])
        try check(ZeroPadding2D("pad", Pads(top: 1, bottom: 2, left: 3, right: 0)), inputs: [x])
        try check(Add("add"), inputs: [x, Reference.random(x.shape, seed: 4)])
        try check(Concatenate("concat"), inputs: [x, Reference.random([2, 7, 6, 2], seed: 5)])
        try check(Flatten("flatten"), inputs: [x])
        try check(Activation("relu", .relu), inputs: [x])
        try check(Activation("softmax", .softmax), inputs: [Reference.random([3, 5], seed: 6)])
        try check(Activation("sigmoid", .sigmoid), inputs: [Reference.random([3, 5], seed: 7)])
        try check(Dropout("dropout", rate: 0.4), inputs: [x])
    }

    func testDense() throws {
        let x = Reference.random([4, 6], seed: 8)
        try check(Dense("dense", units: 3), inputs: [x])
        try check(Dense("dense_relu", units: 3, activation: .relu), inputs: [x])
        try check(Dense("dense_softmax", units: 3, activation: .softmax), inputs: [x])
    }
}

extension Tensor {
    func mapAbs(plus offset: Float) -> Tensor { Tensor(shape: shape, data: data.map { abs($0) + offset }) }
}
