import Core
import Foundation
import KerasFiles
import XCTest
import Zoo

/// One SGD step on a fixed batch equals Keras' (Tests/fixtures/make_training_fixtures.py): the loss
/// within 1e-4, every updated weight within 1e-4 of Keras' value, and every update (what the gradients
/// decide) within 5e-3 of Keras' update (sums of many gradient terms that nearly cancel, such as a
/// beta's, keep less relative precision in any summation order). Where Keras' own float32 step is further than that from its
/// float64 step (ReLUs that round to the other side of zero move the gradients of layers with few
/// positions), the bound widens to four times Keras' own error, and we must be as close to float64 as Keras is.
final class TrainingParityTests: XCTestCase {
    struct Case: Decodable {
        let name: String
        let model: String
        let height: Int
        let width: Int
        let classes: Int
        let trains: String
        let batchNorm: String
        let learningRate: Float
        let loss: Float
    }

    static func cases() throws -> [Case] {
        try fixtureList("training_cases.json", script: "make_training_fixtures.py")
    }

    private func fineTuneModel(_ c: Case) throws -> (Model, Architecture) {
        let architecture = Architecture(rawValue: c.model)!
        let base = try architecture.build(ModelOptions(inputHeight: c.height, inputWidth: c.width))
        return (try Head.attach(to: base, HeadOptions(classes: c.classes)), architecture)
    }

    func testOneSGDStepMatchesKeras() throws {
        let cases = try Self.cases()
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            let (model, architecture) = try fineTuneModel(c)
            let file = { (suffix: String) in KerasCase.directory + "/" + c.name + suffix }
            try Weights.load(into: model, from: file(".before.h5"))
            let before = model.weightedLayers.map { $0.parameters.map(\.value) }
            let x = try NPY.read(file(".x.npy"))
            let labels = try NPY.read(file(".labels.npy")).data.map { Int($0) }

            let trainable = try architecture.layerGroups.withHead.trainableLayers(from: c.trains == "head" ? Head.group : "all", in: model)
            let training = try GraphTraining(model: model, trainableLayers: trainable)
            var context = TrainingContext(seed: 0)
            if c.batchNorm == "training" {
                context.batchNormTraining = Set(model.layers.compactMap { $0 as? BatchNormalization }.map(ObjectIdentifier.init))
            }
            let (loss, gradients, _) = try training.lossAndGradients(x, .classes(labels), loss: Loss(.softmaxCrossEntropy), context: &context)
            let parameters = model.layers.filter { trainable.contains(ObjectIdentifier($0)) }.flatMap(\.parameters)
            Optimizer(OptimizerSettings(.sgd)).apply(gradients, to: parameters) { _ in c.learningRate }

            XCTAssertEqual(loss, c.loss, accuracy: 1e-4 * abs(c.loss), c.name)
            let (expected, _) = try fineTuneModel(c)
            try Weights.load(into: expected, from: file(".after.h5"))
            let (exact, _) = try fineTuneModel(c)
            try Weights.load(into: exact, from: file(".after64.h5"))
            var worst = (weight: Float(0), update: Float(0), kerasNoise: Float(0))
            let layers = zip(zip(model.weightedLayers, expected.weightedLayers), zip(exact.weightedLayers, before))
            for ((ours, keras), (truth, old)) in layers {
                for (index, p) in ours.parameters.enumerated() {
                    let (k, t, w0) = (keras.parameters[index].value, truth.parameters[index].value, old[index])
                    let label = "\(c.name): \(ours.name)/\(p.name)"
                    let (ourStep, kerasStep, exactStep) = (p.value.minus(w0), k.minus(w0), t.minus(w0))
                    guard exactStep.maxMagnitude > 0 else {
                        // Exactly zero in float64 (biases before a batch-statistics BatchNorm): round-off only.
                        XCTAssertLessThanOrEqual(ourStep.maxMagnitude, 1e-6 * max(w0.maxMagnitude, 1), "\(label) should not change")
                        continue
                    }
                    let noise = kerasStep.maxAbsDifference(exactStep) / exactStep.maxMagnitude
                    // A step far below a weight's size keeps only a few bits once subtracted back out.
                    let quantisation = 4 * Float.ulpOfOne * w0.maxMagnitude / exactStep.maxMagnitude
                    let updateBound = max(5e-3, 4 * noise, quantisation)
                    let updateError = ourStep.maxAbsDifference(kerasStep) / kerasStep.maxMagnitude
                    XCTAssertLessThanOrEqual(updateError, updateBound, "\(label): update vs Keras")
                    XCTAssertLessThanOrEqual(ourStep.maxAbsDifference(exactStep) / exactStep.maxMagnitude, updateBound,
                                             "\(label): update vs float64")
                    let weightNoise = k.maxAbsDifference(t) / t.maxMagnitude
                    let weightError = p.value.maxAbsDifference(k) / k.maxMagnitude
                    // A step that is large against its weight (InceptionV3's stem at SGD 0.1) carries the update's own
                    // allowed error into the weight: on a CPU without AVX-512, oneDNN's AVX2 kernels sum in another order.
                    let carried = updateBound * kerasStep.maxMagnitude / k.maxMagnitude
                    XCTAssertLessThanOrEqual(weightError, max(1e-4, 4 * weightNoise, carried), "\(label): weights vs Keras")
                    worst = (max(worst.weight, weightError), max(worst.update, updateError), max(worst.kerasNoise, noise))
                    if ["conv1_conv", "conv5_block3_3_conv", "block1_conv1", "conv2d", "head_predictions"].contains(ours.name) && p.name == "kernel" {
                        print("training parity \(label): weights \(weightError), update \(updateError) (Keras float32 vs float64: \(noise))")
                    }
                }
            }
            print("training parity \(c.name): loss \(loss) vs \(c.loss); worst weight error \(worst.weight), worst update error \(worst.update), Keras' own worst update error \(worst.kerasNoise)")
        }
    }
}

extension Tensor {
    func minus(_ other: Tensor) -> Tensor { Tensor(shape: shape, data: zip(data, other.data).map { $0 - $1 }) }
}
