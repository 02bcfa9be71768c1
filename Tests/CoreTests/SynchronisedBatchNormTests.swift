import Core
import XCTest

/// Synchronised BatchNorm's arithmetic: over one process it must be BatchNorm in training mode.
final class SynchronisedBatchNormTests: XCTestCase {
    /// A collective of one process: every sum is the process's own values.
    private final class Alone: Collective {
        let rank = 0, size = 1
        func sum(_ values: inout [Double]) {}
        func broadcast(_ values: inout [Float]) {}
        func gather(_ values: [Float]) -> [Float] { values }
        func gradientExchange() -> GradientExchange { fatalError("not used by BatchNorm") }
    }

    func testOverOneProcessItIsBatchNormInTrainingMode() throws {
        // Offset from zero, as activations are: one-pass statistics in float would lose digits here.
        let x = Tensor(shape: [4, 5, 6, 8], data: Reference.random([4, 5, 6, 8], seed: 21, scale: 3).data.map { $0 + 50 })
        let dy = Reference.random(x.shape, seed: 22)
        var results: [[Tensor]] = []
        for sync in [nil, Alone()] as [Collective?] {
            let bn = BatchNormalization("bn", epsilon: 1e-3)
            _ = try bn.build(inputShapes: [Array(x.shape.dropFirst())])
            bn.parameter("gamma")!.value = Reference.random([8], seed: 23).mapAbs(plus: 0.5)
            bn.parameter("beta")!.value = Reference.random([8], seed: 24)
            var context = TrainingContext(seed: 0)
            context.batchNormTraining = [ObjectIdentifier(bn)]
            context.batchNormSync = sync
            let (y, saved) = try bn.forwardTraining([x], context: &context)
            let gradients = try bn.backward(BackwardPass(inputs: [x], output: y, gradient: dy, saved: saved, needsInputGradients: [true],
                                                         needsParameterGradients: true, batchNormSync: sync))
            results.append([y, gradients.inputs[0]!, gradients.parameters[0], gradients.parameters[1],
                            bn.parameter("moving_mean")!.value, bn.parameter("moving_variance")!.value])
        }
        for (name, (a, b)) in zip(["output", "input gradient", "gamma gradient", "beta gradient", "moving mean", "moving variance"],
                                  zip(results[0], results[1])) {
            let scale = max(a.data.map(abs).max()!, 1e-6)
            let worst = zip(a.data, b.data).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst / scale, 1e-5, name)
        }
    }
}
