import Core
import Foundation
import KerasFiles
import TestSupport
import XCTest
import Zoo

/// Reading the files Keras and the published zoo write, writing files Keras reads,
/// and one clear error for each way a weights file can be wrong.
final class WeightFileTests: XCTestCase {
    private func kerasCase(_ name: String) throws -> KerasCase {
        try XCTUnwrap(try KerasCase.all().first { $0.name == name }, "fixture \(name)")
    }

    private func assertLoadFails(_ model: Model, _ path: String, matching: WeightMatching = .order,
                                 _ fragments: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Weights.load(into: model, from: path, matching: matching), file: file, line: line) { error in
            XCTAssertTrue(error is UserFacingError, "\(error)", file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue("\(error)".contains(fragment), "'\(error)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }

    func testFilesWithThePublishedFilesTraitsLoad() throws {
        // Fixed-length strings, 1-based auto names, Keras 1 flat VGG names, chunked layer_names.
        for c in try KerasCase.all() where c.includeTop {
            let model = try c.architecture.build(c.options)
            try Weights.load(into: model, from: c.file(".published.h5"))
            let expected = try NPY.read(c.file(".y.npy"))
            let y = try model.predict(try NPY.read(c.file(".x.npy")))
            XCTAssertLessThanOrEqual(y.maxAbsDifference(expected) / expected.maxMagnitude, c.tolerance, c.name)
        }
    }

    func testMatchingByName() throws {
        let c = try kerasCase("resnet50_top")
        let model = try c.architecture.build(c.options)
        let report = try Weights.load(into: model, from: c.file(".h5"), matching: .name)
        XCTAssertEqual(report.loaded.count, 107)
        XCTAssertEqual(report.missing, [])
        // The published ResNet50 file calls its classifier `probs`: by name it is skipped and reported.
        let renamed = try Weights.load(into: c.architecture.build(c.options), from: c.file(".published.h5"), matching: .name)
        XCTAssertEqual(renamed.skipped, ["probs"])
        XCTAssertEqual(renamed.missing, ["predictions"])
        assertLoadFails(model, c.file(".weights.h5"), matching: .name, ["Keras 3", "load it by order, not by name"])
    }

    func testWrongFilesGetClearErrors() throws {
        let c = try kerasCase("resnet50_top")
        let model = try c.architecture.build(c.options)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wrong-files-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        assertLoadFails(model, directory.path + "/absent.h5", ["absent.h5", "does not exist"])
        assertLoadFails(model, directory.path, ["is a folder"])
        let text = directory.path + "/notes.h5"
        try "not weights".write(toFile: text, atomically: true, encoding: .utf8)
        assertLoadFails(model, text, ["notes.h5", "not an HDF5 file"])
        let truncated = directory.path + "/truncated.h5"
        let whole = try Data(contentsOf: URL(fileURLWithPath: c.file(".h5")))
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: truncated))
        assertLoadFails(model, truncated, ["truncated.h5", "truncated"])

        let notop = try c.architecture.build(ModelOptions(inputHeight: 64, inputWidth: 79))
        assertLoadFails(notop, c.file(".h5"), ["107 layers", "106 layers", "build the model with its classifier"])
        // The kind says what the command should suggest; the library's words name no flag.
        XCTAssertThrowsError(try Weights.load(into: notop, from: c.file(".h5"))) { error in
            XCTAssertEqual((error as? WeightsFileError)?.kind, .classifierMismatch(fileHasClassifier: true))
            XCTAssertFalse("\(error)".contains("--"), "\(error)")
        }
        let vgg = try kerasCase("vgg19_notop")
        assertLoadFails(notop, vgg.file(".h5"), ["16 layers", "another architecture"])
        assertLoadFails(notop, vgg.file(".weights.h5"), ["no weights for", "another architecture"])

        // Same architecture, other classes: the error names the layer and both shapes; nothing changes.
        var options = c.options
        options.classes = 10
        let tenClasses = try c.architecture.build(options)
        let before = tenClasses.layer(named: "conv1_conv")!.parameters[0].value
        assertLoadFails(tenClasses, c.file(".h5"), ["predictions", "2048x7", "2048x10", c.file(".h5")])
        XCTAssertEqual(tenClasses.layer(named: "conv1_conv")!.parameters[0].value, before)
    }

    func testExportedFilesRoundTripAndLoadInKeras() throws {
        for name in ["resnet50_top", "inception_v3_top", "xception_notop"] {
            let c = try kerasCase(name)
            let model = try c.architecture.build(c.options)
            try Weights.load(into: model, from: c.file(".weights.h5"))
            let exported = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid()).h5").path
            defer { try? FileManager.default.removeItem(atPath: exported) }
            try Weights.saveLegacy(model, to: exported)

            let reloaded = try c.architecture.build(c.options)
            try Weights.load(into: reloaded, from: exported)
            for (a, b) in zip(model.weightedLayers, reloaded.weightedLayers) {
                XCTAssertEqual(a.parameters.map(\.value), b.parameters.map(\.value), a.name)
            }

            let x = c.file(".x.npy")
            let ours = try model.predict(try NPY.read(x))
            let kerasOutput = exported + ".y.npy"
            defer { try? FileManager.default.removeItem(atPath: kerasOutput) }
            let keras = try python(["Tests/fixtures/keras_predict.py", c.model, exported, x, kerasOutput, "\(c.height)", "\(c.width)",
                           c.includeTop ? "1" : "0", c.pooling, "\(c.classes)"])
            XCTAssertEqual(keras.status, 0, keras.stderr)
            let theirs = try NPY.read(kerasOutput)
            XCTAssertLessThanOrEqual(ours.maxAbsDifference(theirs) / theirs.maxMagnitude, c.tolerance, name)
        }
    }
}
