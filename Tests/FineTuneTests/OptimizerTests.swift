import Core
import FineTune
import Foundation
import TestSupport
import XCTest

/// Our optimizers against Keras 3's on the same weights and gradients, four steps each.
final class OptimizerTests: XCTestCase {
    struct Steps: Decodable {
        let start: [Float]
        let gradients: [[Float]]
        let steps: [String: [[Float]]]
    }

    func testOptimizersMatchKeras() throws {
        let output = try temporaryDirectory("optimizers").appendingPathComponent("steps.json")
        let made = try python(["Tests/fixtures/optimizer_steps.py", output.path])
        XCTAssertEqual(made.status, 0, made.stderr)
        let keras = try JSONDecoder().decode(Steps.self, from: Data(contentsOf: output))
        let configurations: [String: OptimizerSettings] = {
            var sgd = OptimizerSettings(.sgd)
            var momentum = sgd
            momentum.momentum = 0.9
            var nesterov = momentum
            nesterov.nesterov = true
            var adamw = OptimizerSettings(.adamw)
            adamw.weightDecay = 0.01
            var rmspropMomentum = OptimizerSettings(.rmsprop)
            rmspropMomentum.momentum = 0.5
            sgd.momentum = 0
            // Keras' weight_decay works with every optimizer, not only AdamW.
            var adamDecay = OptimizerSettings(.adam), momentumDecay = momentum, rmspropDecay = OptimizerSettings(.rmsprop)
            adamDecay.weightDecay = 0.01
            momentumDecay.weightDecay = 0.01
            rmspropDecay.weightDecay = 0.01
            var clipped = OptimizerSettings(.adam)
            clipped.globalClipNorm = 1
            return ["sgd": sgd, "sgd_momentum": momentum, "sgd_nesterov": nesterov, "adam": OptimizerSettings(.adam),
                    "adamw": adamw, "rmsprop": OptimizerSettings(.rmsprop), "rmsprop_momentum": rmspropMomentum,
                    "adam_weight_decay": adamDecay, "sgd_momentum_weight_decay": momentumDecay, "rmsprop_weight_decay": rmspropDecay,
                    "adam_global_clipnorm": clipped]
        }()
        XCTAssertEqual(Set(configurations.keys), Set(keras.steps.keys))
        for (name, settings) in configurations {
            let parameter = Parameter(name: "kernel", shape: [6])
            parameter.value = Tensor(shape: [6], data: keras.start)
            let optimizer = Optimizer(settings)
            for (step, gradient) in keras.gradients.enumerated() {
                let norm = optimizer.apply([ObjectIdentifier(parameter): Tensor(shape: [6], data: gradient)], to: [parameter]) { _ in 0.05 }
                XCTAssertEqual(norm, gradient.map { $0 * $0 }.reduce(0, +).squareRoot(), accuracy: 1e-5, "the norm before clipping")
                for (ours, theirs) in zip(parameter.value.data, keras.steps[name]![step]) {
                    XCTAssertEqual(ours, theirs, accuracy: 2e-6 * max(1, abs(theirs)), "\(name) step \(step + 1)")
                }
            }
        }
    }

    func testPenaltiesAddKerasRegularizerGradients() {
        var settings = OptimizerSettings(.sgd)
        settings.l1 = 0.01
        settings.l2 = 0.1
        let kernel = Parameter(name: "kernel", shape: [2])
        kernel.value = Tensor(shape: [2], data: [1, -2])
        let bias = Parameter(name: "bias", shape: [1])
        let optimizer = Optimizer(settings)
        XCTAssertEqual(optimizer.penalty([kernel, bias]), 0.01 * 3 + 0.1 * 5, accuracy: 1e-6)
        optimizer.apply([ObjectIdentifier(kernel): Tensor(zeros: [2]), ObjectIdentifier(bias): Tensor(zeros: [1])],
                        to: [kernel, bias]) { _ in 1 }
        // w − (l1·sign(w) + 2·l2·w); biases carry no penalty.
        XCTAssertEqual(kernel.value.data[0], 1 - (0.01 + 0.2), accuracy: 1e-6)
        XCTAssertEqual(kernel.value.data[1], -2 - (-0.01 - 0.4), accuracy: 1e-6)
        XCTAssertEqual(bias.value.data, [0])
    }

    /// Keras clips by the norm of all gradients together, each with its regularizer's gradient.
    func testGlobalNormSpansParametersAndCountsPenalties() {
        var settings = OptimizerSettings(.sgd)
        settings.l2 = 0.5
        settings.globalClipNorm = 1
        let count = 5003  // not a multiple of the sum's sixteen lanes
        let start = (0..<count).map { Float($0 % 7) * 0.01 }
        let kernel = Parameter(name: "kernel", shape: [count])
        kernel.value = Tensor(shape: [count], data: start)
        let bias = Parameter(name: "bias", shape: [3])
        let optimizer = Optimizer(settings)
        let norm = optimizer.apply([ObjectIdentifier(kernel): Tensor(shape: [count], data: [Float](repeating: 0.02, count: count)),
                                    ObjectIdentifier(bias): Tensor(shape: [3], data: [3, 0, 4])], to: [kernel, bias]) { _ in 1 }
        // The kernel's full gradient is 0.02 + 2·l2·w = 0.02 + w.
        let expected = (start.map { Double((0.02 + $0) * (0.02 + $0)) }.reduce(0, +) + 25).squareRoot()
        XCTAssertEqual(Double(norm), expected, accuracy: 1e-5 * expected)
        for (moved, gradient) in zip(bias.value.data, [Float(3), 0, 4]) {
            XCTAssertEqual(moved, -gradient / norm, accuracy: 1e-6, "every gradient scaled by clip / norm")
        }
        for i in [0, 6, count - 1] {
            XCTAssertEqual(kernel.value.data[i], start[i] - (0.02 + start[i]) / norm, accuracy: 1e-6)
        }
    }

    func testStateIsKeptPerParameterAndDroppedWhenFrozen() {
        let a = Parameter(name: "kernel", shape: [1]), b = Parameter(name: "kernel", shape: [1])
        let optimizer = Optimizer(OptimizerSettings(.adam))
        let ones = Tensor(shape: [1], data: [1])
        optimizer.apply([ObjectIdentifier(a): ones, ObjectIdentifier(b): ones], to: [a, b]) { _ in 0.1 }
        XCTAssertEqual(optimizer.stateCount, 2)
        optimizer.retainState(for: [b])
        XCTAssertEqual(optimizer.stateCount, 1)
        // A parameter that starts training again starts from fresh state: its first Adam step is lr·sign(g).
        let before = a.value.data[0]
        optimizer.apply([ObjectIdentifier(a): ones], to: [a]) { _ in 0.1 }
        XCTAssertEqual(before - a.value.data[0], 0.1, accuracy: 1e-5)
    }

    func testSchedules() {
        let steps = 100, perEpoch = 10
        XCTAssertEqual(LearningRateSchedule.constant.factor(step: 57, totalSteps: steps, stepsPerEpoch: perEpoch), 1)
        XCTAssertEqual(LearningRateSchedule.step(epochs: 3, factor: 0.5).factor(step: 65, totalSteps: steps, stepsPerEpoch: perEpoch), 0.25)
        let cosine = LearningRateSchedule.cosine(warmupEpochs: 2)
        XCTAssertEqual(cosine.factor(step: 0, totalSteps: steps, stepsPerEpoch: perEpoch), 0.05, accuracy: 1e-6)
        XCTAssertEqual(cosine.factor(step: 19, totalSteps: steps, stepsPerEpoch: perEpoch), 1, accuracy: 1e-6)
        XCTAssertEqual(cosine.factor(step: 60, totalSteps: steps, stepsPerEpoch: perEpoch), 0.5, accuracy: 1e-6)
        XCTAssertLessThan(cosine.factor(step: 99, totalSteps: steps, stepsPerEpoch: perEpoch), 0.001)
        let cycle = LearningRateSchedule.oneCycle
        XCTAssertEqual(cycle.factor(step: 0, totalSteps: steps, stepsPerEpoch: perEpoch), 0.04, accuracy: 1e-6)
        XCTAssertEqual(cycle.factor(step: 30, totalSteps: steps, stepsPerEpoch: perEpoch), 1, accuracy: 1e-6)
        XCTAssertLessThan(cycle.factor(step: 99, totalSteps: steps, stepsPerEpoch: perEpoch), 0.001)
        let plateau = LearningRateSchedule.reduceOnPlateau(patience: 2, factor: 0.1)
        XCTAssertEqual(plateau.factor(step: 5, totalSteps: steps, stepsPerEpoch: perEpoch, plateauReductions: 2), 0.01, accuracy: 1e-7)
        var tracker = PlateauTracker(patience: 2)
        XCTAssertEqual([1.0, 0.9, 0.95, 0.91, 0.8, 0.85, 0.85].map { tracker.exhausted(after: Float($0)) },
                       [false, false, false, true, false, false, true])
    }
}
