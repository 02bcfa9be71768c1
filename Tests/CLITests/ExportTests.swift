import Core
import Foundation
import ImageData
import KerasFiles
import TestSupport
import XCTest
import Zoo

/// `finetune export`: ONNX graphs and Keras 3 archives that other runtimes open and that predict what we predict.
final class ExportTests: XCTestCase {
    /// One fine-tuned checkpoint, its parity images and what finetune predicts for them.
    private struct Case {
        let name: String
        let checkpoint: String
        let info: CheckpointInfo
        let images: [String]
        let reference: String
    }

    private func trainCase(_ architecture: Architecture, multiLabel: Bool, data: String, in directory: URL) throws -> Case {
        let size = max(32, try Manifest.shared.model(architecture).minimumInputSize)
        let name = "\(architecture.rawValue)-\(multiLabel ? "multi" : "single")"
        let run = directory.appendingPathComponent(name).path
        // The Keras fixtures' seeded weights (BatchNorm far from the identity) where there are some.
        let fixture = "\(CLI.fixtures)/\(architecture.rawValue)_notop.h5"
        let weights = FileManager.default.fileExists(atPath: fixture) ? fixture : "none"
        let trained = try CLI.run(["--base", architecture.rawValue, "--weights", weights, "--data", data, "--image-size", "\(size)",
                                   "--schedule", "head:1@1e-3", "--output", run] + (multiLabel ? ["--multilabel"] : []))
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let imagesFolder = directory.appendingPathComponent("images\(size)").path
        if !FileManager.default.fileExists(atPath: imagesFolder) {
            XCTAssertEqual(try python(["Tests/fixtures/onnx_parity.py", "images", imagesFolder, "\(size)", "7"]).status, 0)
        }
        let images = try imageFiles([imagesFolder])
        let checkpoint = "\(run)/best.h5"
        // What `finetune predict` computes for these files, at full precision.
        let (model, info) = try Checkpoint.load(checkpoint)
        let reference = directory.appendingPathComponent("\(name).y.npy").path
        try NPY.write(try model.predict(try imageBatch(images, height: size, width: size, preprocessing: info.preprocessingMode)),
                      to: reference)
        return Case(name: name, checkpoint: checkpoint, info: info, images: images, reference: reference)
    }

    /// Three class folders of photo-like PNGs to fine-tune on.
    private func photoDataset(in directory: URL) throws -> String {
        let data = directory.appendingPathComponent("data").path
        XCTAssertEqual(try python(["Tests/fixtures/onnx_parity.py", "dataset", data]).status, 0)
        return data
    }

    private func export(_ checkpoint: String, to output: String, _ flags: [String] = []) throws {
        let result = try CLI.run(["export", "--model", checkpoint, "--output", output] + flags)
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.hasPrefix("wrote \(output): "), result.stdout)
    }

    /// Every architecture, single- and multi-label: onnx.checker accepts each ONNX file, and ONNX Runtime's
    /// probabilities equal finetune's within 1e-4 with preprocessing included and excluded, NHWC and NCHW,
    /// batch 1 and 7; Keras 3 opens each .keras archive and agrees as closely. Exports are deterministic.
    func testExportsPredictWhatFinetunePredictsInONNXRuntimeAndKeras3() throws {
        let directory = try temporaryDirectory("export-parity")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try photoDataset(in: directory)
        var cases: [[String: Any]] = []
        for architecture in Architecture.allCases {
            for multiLabel in [false, true] {
                let c = try trainCase(architecture, multiLabel: multiLabel, data: data, in: directory)
                var exports: [[String: String]] = []
                for layout in ["nhwc", "nchw"] {
                    for preprocessing in ["include", "exclude"] {
                        let path = directory.appendingPathComponent("\(c.name)-\(layout)-\(preprocessing).onnx").path
                        try export(c.checkpoint, to: path, ["--layout", layout, "--preprocessing", preprocessing])
                        exports.append(["path": path, "layout": layout, "preprocessing": preprocessing])
                    }
                }
                let keras = directory.appendingPathComponent("\(c.name).keras").path
                try export(c.checkpoint, to: keras, ["--format", "keras"])
                cases.append(["name": c.name, "classes": c.info.classes, "mode": c.info.preprocessing, "images": c.images,
                              "reference": c.reference, "exports": exports, "keras": keras])
                if architecture == .smallCNN || architecture == .xception {
                    try assertDeterministic(c.checkpoint, onnx: exports[0]["path"]!, keras: keras, in: directory)
                }
            }
        }
        let manifest = directory.appendingPathComponent("manifest.json")
        try JSONSerialization.data(withJSONObject: ["tolerance": 1e-4, "cases": cases]).write(to: manifest)
        let onnx = try python(["Tests/fixtures/onnx_parity.py", "check", manifest.path])
        print(onnx.stdout)
        XCTAssertEqual(onnx.status, 0, onnx.stdout + onnx.stderr)
        XCTAssertEqual(onnx.stdout.split(separator: "\n").count, cases.count * 4, "every ONNX file was checked")
        let keras = try python(["Tests/fixtures/keras3_parity.py", manifest.path])
        print(keras.stdout)
        XCTAssertEqual(keras.status, 0, keras.stdout + keras.stderr)
        XCTAssertEqual(keras.stdout.split(separator: "\n").count, cases.count, "every archive was loaded")
    }

    /// The same checkpoint exported again gives the same bytes.
    private func assertDeterministic(_ checkpoint: String, onnx: String, keras: String, in directory: URL) throws {
        let h5 = directory.appendingPathComponent("once-\((keras as NSString).lastPathComponent).h5").path
        try export(checkpoint, to: h5, ["--format", "h5"])
        for (first, flags) in [(onnx, ["--layout", "nhwc", "--preprocessing", "include"]), (keras, ["--format", "keras"]),
                               (h5, ["--format", "h5"])] {
            let again = directory.appendingPathComponent("again-" + (first as NSString).lastPathComponent).path
            try export(checkpoint, to: again, flags)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: again)), try Data(contentsOf: URL(fileURLWithPath: first)),
                           "\(first) is written the same way twice")
        }
    }

    /// --format h5 writes the checkpoint itself; --base-only writes the base as export-base does.
    func testH5AndBaseOnlyExportsLoadAsCheckpointsAndBases() throws {
        let directory = try temporaryDirectory("export-h5")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try photoDataset(in: directory)
        let c = try trainCase(.smallCNN, multiLabel: false, data: data, in: directory)
        let h5 = directory.appendingPathComponent("model.h5").path
        try export(c.checkpoint, to: h5, ["--format", "h5"])
        let (model, info) = try Checkpoint.load(h5)
        XCTAssertEqual(info, c.info)
        let x = try imageBatch(c.images, height: 32, width: 32, preprocessing: info.preprocessingMode)
        XCTAssertEqual(try model.predict(x).data, try NPY.read(c.reference).data, "the same model, to the bit")

        let base = directory.appendingPathComponent("base.h5").path, alias = directory.appendingPathComponent("alias.h5").path
        try export(c.checkpoint, to: base, ["--base-only"])
        XCTAssertEqual(try CLI.run(["export-base", "--model", c.checkpoint, "--output", alias]).status, 0)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: base)), try Data(contentsOf: URL(fileURLWithPath: alias)),
                       "export-base is export --base-only, to the byte")
        let embedded = try CLI.run(["embed", "--base", "small_cnn", "--weights", base, "--image-size", "32", "--pooling", "avg",
                                    "--images", c.images[0], "--output", directory.appendingPathComponent("x.npy").path])
        XCTAssertEqual(embedded.status, 0, embedded.stderr)
        assertUserError(try CLI.run(["export", "--model", c.checkpoint, "--output", base, "--base-only", "--format", "onnx"]),
                        status: 64, ["--base-only writes Keras HDF5 weights"])
        assertUserError(try CLI.run(["export", "--model", c.checkpoint, "--output", base, "--format", "keras", "--layout", "nchw"]),
                        status: 64, ["--layout and --preprocessing apply to --format onnx only"])
    }

    /// A file that is not a checkpoint, an unknown architecture, an output folder that does not exist and a
    /// full disk: one clear line, exit code 1, and no file left where the output would have gone.
    func testBadInputGivesOneClearLineAndLeavesNothingBehind() throws {
        let directory = try temporaryDirectory("export-bad")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try photoDataset(in: directory)
        let c = try trainCase(.resnet50, multiLabel: false, data: data, in: directory)
        let out = directory.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)

        let notes = directory.appendingPathComponent("notes.txt").path
        try "not a model".write(toFile: notes, atomically: true, encoding: .utf8)
        let base = directory.appendingPathComponent("base.h5").path
        try export(c.checkpoint, to: base, ["--base-only"])
        let alien = directory.appendingPathComponent("alien.h5").path
        try FileManager.default.copyItem(atPath: c.checkpoint, toPath: alien)
        let renamed = try python(["-c", """
            import h5py, json, sys
            with h5py.File(sys.argv[1], "a") as f:
                info = json.loads(f.attrs["finetune_checkpoint"]); info["base"] = "alexnet"
                f.attrs["finetune_checkpoint"] = json.dumps(info)
            """, alien])
        XCTAssertEqual(renamed.status, 0, renamed.stderr)
        for format in ["onnx", "keras", "h5"] {
            let output = out.appendingPathComponent("model.\(format)").path
            for (model, reason) in [(notes, "is not an HDF5 file"), (base, "is not a finetune checkpoint"),
                                    (alien, "names an unknown base 'alexnet'")] {
                let result = try CLI.run(["export", "--model", model, "--format", format, "--output", output])
                assertUserError(result, status: 1, [model, reason])
                XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, result.stderr)
            }
            let missing = directory.appendingPathComponent("no-such-folder/model.\(format)").path
            assertUserError(try CLI.run(["export", "--model", c.checkpoint, "--format", format, "--output", missing]),
                            status: 1, ["cannot write \(missing)", "does not exist"])
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.path), [])

        // ResNet50's ONNX file (94 MB) and .keras archive do not fit a 1 MB disk.
        let disk = directory.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        guard geteuid() == 0, try execute(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=1m", "tmpfs", disk.path]).status == 0 else {
            throw XCTSkip("mounting a small tmpfs needs root")
        }
        defer { _ = try? execute(URL(fileURLWithPath: "/bin/umount"), [disk.path]) }
        for format in ["onnx", "keras", "h5"] {
            let output = disk.appendingPathComponent("model.\(format)").path
            let result = try CLI.run(["export", "--model", c.checkpoint, "--format", format, "--output", output])
            assertUserError(result, status: 1, [output, "No space left on device"])
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: disk.path), [], "nothing half-written stays")
        }
    }
}
