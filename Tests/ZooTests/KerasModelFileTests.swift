import Core
import Foundation
import KerasFiles
import TestSupport
import XCTest
import Zoo

/// Fine-tuned models saved as full-model HDF5 load in Keras (`keras.models.load_model`) and predict
/// what we predict.
final class KerasModelFileTests: XCTestCase {
    func testKerasLoadsOurModelsAndPredictsTheSame() throws {
        let directory = try temporaryDirectory("model-files")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [(Architecture, Int, Int)] = [(.resnet50, 40, 37), (.vgg19, 32, 35), (.inceptionV3, 75, 80), (.xception, 71, 74)]
        for (index, (architecture, height, width)) in cases.enumerated() {
            let base = try architecture.build(ModelOptions(inputHeight: height, inputWidth: width))
            base.initializeWeights(seed: UInt64(index))
            var options = HeadOptions(classes: 4)
            options.dropout = 0.3
            options.hidden = 16
            options.seed = 5
            let model = try Head.attach(to: base, options)
            let path = directory.appendingPathComponent("\(architecture.rawValue).h5").path
            try KerasModelFile.save(model, to: path, attributes: ["finetune_classes": "[\"a\",\"b\",\"c\",\"d\"]"])
            XCTAssertEqual(try KerasModelFile.attribute("finetune_classes", in: path), "[\"a\",\"b\",\"c\",\"d\"]")

            var rng = SeededGenerator(seed: 9)
            let x = Tensor(shape: [3, height, width, 3], data: (0..<(3 * height * width * 3)).map { _ in Float.random(in: -1...1, using: &rng) })
            let xPath = directory.appendingPathComponent("x.npy").path, yPath = directory.appendingPathComponent("y.npy").path
            try NPY.write(x, to: xPath)
            let keras = try python(["Tests/fixtures/keras_load_model.py", path, xPath, yPath])
            XCTAssertEqual(keras.status, 0, "\(architecture.rawValue): \(keras.stderr.suffix(3000))")
            guard keras.status == 0 else { continue }
            let theirs = try NPY.read(yPath), ours = try model.predict(x)
            XCTAssertEqual(theirs.shape, ours.shape)
            XCTAssertLessThanOrEqual(ours.maxAbsDifference(theirs), 1e-4, architecture.rawValue)

            // And our own loader reads the file back (weights under model_weights).
            let reloaded = try Head.attach(to: try architecture.build(ModelOptions(inputHeight: height, inputWidth: width)), options)
            try Weights.load(into: reloaded, from: path)
            XCTAssertLessThanOrEqual(try reloaded.predict(x).maxAbsDifference(ours), 1e-6)
        }
    }
}
