import Converters
import Core
import Foundation
import ImageData
import KerasFiles
import TestSupport
import XCTest
import Zoo

/// `finetune convert` as users meet it: a fine-tuning run from each converted base, the checkpoint in
/// Keras, the zoo fetching torchvision's file, and one clear line for weights that do not fit.
final class ConversionCommandTests: XCTestCase {
    /// Each architecture's converted base trains end to end, the run uses and records the weights'
    /// preprocessing, and Keras loads the fine-tuned resnet50_v1_5 checkpoint and predicts what we predict.
    func testFineTuningFromEachConvertedBase() throws {
        let directory = try temporaryDirectory("convert-train")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data").path
        let made = try python(["Tests/fixtures/make_folder_dataset.py", data, "6", "5", "7"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let sizes: [Architecture: Int] = [.resnet50V1_5: 32, .vgg19: 32, .inceptionV3: 75, .xception: 71]
        for c in try ConverterFixtures.cases.torch where c.family != "timm" || c.base != "resnet50_v1_5" {
            let base = directory.appendingPathComponent("\(c.name).h5").path
            let convert = try Finetune.run(["convert", try ConverterFixtures.path("\(c.name).pth"), "--base", c.base, "--output", base])
            XCTAssertEqual(convert.status, 0, convert.stderr)
            XCTAssertTrue(convert.stdout.contains("wrote \(base): \(c.base) without top"), convert.stdout)
            let run = directory.appendingPathComponent("run-\(c.base)").path
            let size = sizes[c.architecture]!
            let train = try Finetune.run(["train", "--base", c.base, "--data", data, "--weights", base, "--image-size", "\(size)",
                                          "--schedule", "head:1@1e-3", "--batch-size", "4", "--output", run])
            XCTAssertEqual(train.status, 0, "\(c.base): \(train.stderr)")
            let info = try XCTUnwrap(try KerasModelFile.attribute("finetune_checkpoint", in: "\(run)/best.h5"))
            XCTAssertTrue(info.contains("\"preprocessing\":\"\(c.preprocessing)\""), info)
        }
        // Keras loads the fine-tuned v1.5 checkpoint as a functional model of standard layers.
        let run = directory.appendingPathComponent("run-resnet50_v1_5").path
        let folder = try ImageFolder(root: data, size: 32)
        let x = directory.appendingPathComponent("x.npy").path, y = directory.appendingPathComponent("y.npy").path
        let images = folder.images(Array(0..<folder.count), preprocessing: .torch)
        try NPY.write(images, to: x)
        let keras = try python(["Tests/fixtures/keras_load_model.py", "\(run)/best.h5", x, y])
        XCTAssertEqual(keras.status, 0, keras.stderr)
        let (model, info) = try Checkpoint.load("\(run)/best.h5")
        XCTAssertEqual(info.preprocessingMode, .torch)
        let ours = try model.predict(images)
        let theirs = try NPY.read(y)
        XCTAssertLessThanOrEqual(ours.maxAbsDifference(theirs), 1e-4 * theirs.maxMagnitude)
    }

    /// The zoo fetches torchvision's file (here a seeded one whose name carries its own SHA-256 prefix, from a
    /// loopback server), verifies it, converts it into the cache once and serves it from there after.
    func testZooFetchConvertsTorchvisionWeightsIntoTheCache() throws {
        let served = try temporaryDirectory("served-torchvision")
        let cache = try temporaryDirectory("cache-torchvision")
        defer {
            try? FileManager.default.removeItem(at: served)
            try? FileManager.default.removeItem(at: cache)
        }
        let source = URL(fileURLWithPath: try ConverterFixtures.path("torchvision_resnet50.pth"))
        let prefix = String(try sha256(of: source).prefix(8))
        let name = "resnet50-\(prefix).pth"
        try FileManager.default.copyItem(at: source, to: served.appendingPathComponent(name))
        let store = WeightCache(directory: cache)
        try withLoopbackServer(serving: served) { base in
            let wrong = Manifest.WeightFile(path: "good/\(name)", digest: .sha256Prefix("00000000"), convertFrom: "torchvision")
            XCTAssertThrowsError(try store.fetchConverted(wrong, for: .resnet50V1_5, includeTop: false, from: base)) {
                XCTAssertTrue("\($0)".contains("expected sha256 00000000"), "\($0)")
            }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.path), [])

            let file = Manifest.WeightFile(path: "good/\(name)", digest: .sha256Prefix(prefix), convertFrom: "torchvision")
            let converted = try store.fetchConverted(file, for: .resnet50V1_5, includeTop: false, from: base)
            XCTAssertEqual(try ConvertedWeights.recordedPreprocessing(converted.path), .torch)
            let model = try Architecture.resnet50V1_5.build(ModelOptions(inputHeight: 64, inputWidth: 79))
            XCTAssertEqual(try Weights.load(into: model, from: converted.path).loaded.count, model.weightedLayers.count)
            var messages: [String] = []
            XCTAssertEqual(try store.fetchConverted(file, for: .resnet50V1_5, includeTop: false, from: "http://127.0.0.1:1/") { messages.append($0) },
                           converted)
            XCTAssertTrue(messages.contains { $0.contains("is cached (converted from \(name))") }, "\(messages)")
            XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: cache.path)),
                           [name, "resnet50_v1_5_from_resnet50-\(prefix)_notop.h5"])
        }
    }

    /// Weights that do not fit: one line naming the file and the problem, exit code 1, nothing written.
    func testWeightsThatDoNotFitAreOneClearLine() throws {
        let directory = try temporaryDirectory("convert-refused")
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.h5").path
        let resnet = try ConverterFixtures.path("torchvision_resnet50.pth")
        let cases: [([String], [String])] = [
            // Another architecture's checkpoint: which mapping its keys fit.
            ([resnet, "--base", "vgg19"], [resnet, "does not fit vgg19", "its keys fit torchvision_resnet50 (resnet50_v1_5)", "--base resnet50_v1_5"]),
            ([resnet, "--base", "inception_v3"], ["does not fit inception_v3", "its keys fit torchvision_resnet50 (resnet50_v1_5)"]),
            ([resnet, "--base", "inception_v3", "--from", "torchvision"], ["no mapping converts torchvision weights into inception_v3", "it takes weights from timm"]),
            ([try ConverterFixtures.path("timm_legacy_xception.safetensors"), "--base", "resnet50_v1_5"],
             ["does not fit resnet50_v1_5", "its keys fit timm_legacy_xception (xception)"]),
            // A wrong --from for what the file is.
            ([resnet, "--base", "resnet50_v1_5", "--from", "keras"], ["is a PyTorch checkpoint, not a Keras file"]),
            // A classifier asked of a file without one.
            ([try ConverterFixtures.path("keras3_vgg19.weights.h5"), "--base", "vgg19", "--include-top"], ["has no classifier", "--no-top"]),
            // A Keras 3 model that is not one of ours.
            ([try ConverterFixtures.path("keras3_resnet50_head.keras"), "--base", "xception"], ["does not fit xception"]),
            ([try ConverterFixtures.path("keras3_other.keras"), "--base", "resnet50"], ["does not fit resnet50", "stem/kernel"]),
        ]
        for (arguments, fragments) in cases {
            let result = try Finetune.run(["convert"] + arguments + ["--output", output])
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.stderr)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "one line: \(result.stderr)")
            for fragment in fragments { XCTAssertTrue(result.stderr.contains(fragment), "\(arguments): stderr lacks '\(fragment)':\n\(result.stderr)") }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), [], "\(arguments) left a file")
        }
        // A family no mapping knows is a usage error.
        let unknown = try Finetune.run(["convert", resnet, "--base", "resnet50_v1_5", "--from", "caffe", "--output", output])
        XCTAssertEqual(unknown.status, 64, unknown.stderr)
    }
}
