import Foundation
import ImageData
import KerasFiles
import TestSupport
import XCTest

/// The `finetune` commands as a user runs them: help, flags, results and errors.
final class CommandLineTests: XCTestCase {
    func testEveryCommandHasHelpWithExamples() throws {
        for command in [["train"], ["evaluate"], ["predict"], ["search"], ["data", "inspect"], ["zoo", "list"], ["zoo", "fetch"],
                        ["zoo", "verify"], ["embed"], ["bench"]] {
            let result = try CLI.run(command + ["--help"])
            XCTAssertEqual(result.status, 0, command.joined(separator: " "))
            XCTAssertTrue(result.stdout.contains("Example"), "\(command): \(result.stdout)")
        }
    }

    func testBadFlagsAreRejectedBeforeAnyWork() throws {
        assertUserError(try CLI.run(["embed", "--base", "resnet99", "--input", "x.npy", "--output", "y.npy"]),
                        status: 64, ["resnet99", "--base"])
        assertUserError(try CLI.run(["embed", "--base", "resnet50", "--include-top", "--pooling", "avg", "--input", "x.npy", "--output", "y.npy"]),
                        status: 64, ["--pooling applies only without --include-top"])
        assertUserError(try CLI.run(["embed", "--base", "xception", "--image-size", "64", "--images", "a.png", "--output", "y.npy"]),
                        status: 64, ["--image-size 64", "minimum of 71"])
        assertUserError(try CLI.run(["embed", "--base", "vgg19", "--output", "y.npy"]), status: 64, ["--input", "--images"])
        assertUserError(try CLI.run(["bench", "--base", "vgg19", "--batch-size", "0"]), status: 64, ["--batch-size"])
        assertUserError(try CLI.run(["zoo", "fetch", "alexnet"]), status: 64, ["alexnet"])
    }

    /// bf16 on a processor without native bfloat16 (simulated): one line says so, and the command runs float32.
    func testBFloat16WithoutNativeSupportSaysSoAndRunsFloat32() throws {
        let arguments = ["bench", "--base", "small_cnn", "--batch-size", "2", "--iterations", "1"]
        let simulated = ["FINETUNE_SIMULATED_CPU": "no-bf16"]
        let asked = try CLI.run(arguments + ["--precision", "bf16"], environment: simulated)
        XCTAssertEqual(asked.status, 0, asked.stderr)
        XCTAssertEqual(asked.stderr.split(separator: "\n").filter { $0.contains("bfloat16") },
                       ["note: this processor has no native bfloat16 (avx512_bf16), and emulated bfloat16 is slower than float32: running float32"])
        XCTAssertTrue(asked.stdout.contains("images/s:"), asked.stdout)
        let plain = try CLI.run(arguments, environment: simulated)
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertFalse(plain.stderr.contains("bfloat16"), plain.stderr)
        assertUserError(try CLI.run(arguments + ["--precision", "fp16"]), status: 64, ["fp16", "--precision"])
    }

    /// By name, a file that leaves a layer out is refused instead of leaving that layer random.
    func testMatchingByNameRefusesAFileThatLeavesLayersOut() throws {
        let directory = try temporaryDirectory("match-name")
        defer { try? FileManager.default.removeItem(at: directory) }
        assertUserError(try CLI.run(["embed", "--base", "resnet50", "--include-top", "--classes", "7", "--match", "name",
                                     "--weights", "\(CLI.fixtures)/resnet50_top.published.h5", "--input", "\(CLI.fixtures)/resnet50_top.x.npy",
                                     "--output", directory.appendingPathComponent("y.npy").path]),
                        status: 1, ["resnet50_top.published.h5 has no layer named like 1 layer of the model's (the first: predictions)", "--match order"])
    }

    func testEmbedMatchesKeras() throws {
        let directory = try temporaryDirectory("embed")
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, extra) in [("xception_notop", [String]()), ("resnet50_top", ["--include-top", "--classes", "7"])] {
            let output = directory.appendingPathComponent("\(name).npy").path
            let result = try CLI.run(["embed", "--base", name.hasPrefix("xception") ? "xception" : "resnet50",
                                      "--weights", "\(CLI.fixtures)/\(name).h5", "--input", "\(CLI.fixtures)/\(name).x.npy",
                                      "--output", output] + extra)
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stderr.contains("loaded"), result.stderr)
            let ours = try NPY.read(output)
            let keras = try NPY.read("\(CLI.fixtures)/\(name).y.npy")
            XCTAssertLessThanOrEqual(ours.maxAbsDifference(keras) / keras.maxMagnitude, 1e-4, name)
        }
    }

    func testEmbedImagesDecodesAndPreprocessesLikeKeras() throws {
        let directory = try temporaryDirectory("images")
        defer { try? FileManager.default.removeItem(at: directory) }
        // TensorFlow writes the PNGs and the batch Keras would feed the model (75×75, no resizing).
        let made = try python(["Tests/fixtures/make_images.py", directory.path, "75"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let common = ["embed", "--base", "xception", "--weights", "\(CLI.fixtures)/xception_notop.h5", "--image-size", "75",
                      "--pooling", "avg"]
        let fromImages = directory.appendingPathComponent("from-images.npy").path
        let fromArray = directory.appendingPathComponent("from-array.npy").path
        XCTAssertEqual(try CLI.run(common + ["--images", directory.appendingPathComponent("png").path, "--output", fromImages]).status, 0)
        XCTAssertEqual(try CLI.run(common + ["--input", directory.appendingPathComponent("expected.npy").path, "--output", fromArray]).status, 0)
        let a = try NPY.read(fromImages), b = try NPY.read(fromArray)
        XCTAssertEqual(a.shape, [3, 2048])
        XCTAssertLessThanOrEqual(a.maxAbsDifference(b), 1e-5 * b.maxMagnitude)
        let listed = try String(contentsOfFile: fromImages + ".txt", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(listed.map { ($0 as NSString).lastPathComponent }, ["a.png", "b.png", "c.png"])
    }

    func testBadInputsGetOneClearLine() throws {
        let directory = try temporaryDirectory("bad")
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = "\(CLI.fixtures)/resnet50_notop.h5"
        let ints = directory.appendingPathComponent("ints.npy").path
        let gray = directory.appendingPathComponent("gray.npy").path
        let made = try python(["-c", "import numpy as np; np.save('\(ints)', np.zeros((1, 40, 40, 3), 'int32')); "
                                   + "np.save('\(gray)', np.zeros((1, 40, 40, 1), 'float32'))"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let out = directory.appendingPathComponent("y.npy").path
        let embed = ["embed", "--base", "resnet50", "--output", out]
        assertUserError(try CLI.run(embed + ["--weights", weights, "--input", ints]), status: 1, ["ints.npy", "<i4", "float32"])
        assertUserError(try CLI.run(embed + ["--weights", weights, "--input", gray]), status: 1, ["gray.npy", "x 3"])
        let x = "\(CLI.fixtures)/resnet50_notop.x.npy"
        assertUserError(try CLI.run(embed + ["--weights", directory.appendingPathComponent("missing.h5").path, "--input", x]),
                        status: 1, ["missing.h5", "does not exist"])
        assertUserError(try CLI.run(embed + ["--weights", "\(CLI.fixtures)/resnet50_top.h5", "--input", x]),
                        status: 1, ["resnet50_top.h5", "--include-top"])
        assertUserError(try CLI.run(embed + ["--weights", "\(CLI.fixtures)/vgg19_notop.h5", "--input", x]),
                        status: 1, ["vgg19_notop.h5", "another architecture"])
        assertUserError(try CLI.run(embed + ["--weights", weights, "--images", directory.path]),
                        status: 1, ["no .jpg, .jpeg, .png, .bmp, .gif or .webp images"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }

    func testConvertIDXWritesClassFoldersOfPNGs() throws {
        let directory = try temporaryDirectory("convert")
        defer { try? FileManager.default.removeItem(at: directory) }
        let idx = "/usr/share/datasets/fashion-mnist"
        let converted = try CLI.run(["data", "convert-idx", "--images", "\(idx)/t10k-images-idx3-ubyte.gz",
                                     "--labels", "\(idx)/t10k-labels-idx1-ubyte.gz", "--names", "fashion-mnist",
                                     "--classes", "0,8", "--per-class", "3", "--output", directory.path])
        XCTAssertEqual(converted.status, 0, converted.stderr)
        let folder = try ImageFolder(root: directory.path, size: 28)
        XCTAssertEqual(folder.classes, ["Bag", "T-shirt-top"])
        XCTAssertEqual(folder.count, 6)
        XCTAssertEqual(folder.skipped.count, 0)
        let set = try IDXImages(images: "\(idx)/t10k-images-idx3-ubyte.gz", labels: "\(idx)/t10k-labels-idx1-ubyte.gz")
        let first = set.indices(of: [0], perClass: 1)[0]
        let image = try ImageDecoder.decode(file: directory.appendingPathComponent(String(format: "T-shirt-top/%05d.png", first)).path)
        XCTAssertEqual(stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] }, Array(set.pixels.bytes[(first * 784)..<((first + 1) * 784)]))
    }

    func testZooListAndVerify() throws {
        let list = try CLI.run(["zoo", "list"])
        XCTAssertEqual(list.status, 0)
        for fragment in ["resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", "4d473c1dd8becc155b73f8504c6f6626",
                         "mixed0, mixed1", "preprocessing: caffe", "minimum", "block14, top"] {
            XCTAssertTrue(list.stdout.contains(fragment), fragment)
        }
        let verify = try CLI.run(["zoo", "verify", "\(CLI.fixtures)/resnet50_notop.h5"])
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertTrue(verify.stdout.contains("not one of the published files"), verify.stdout)
        XCTAssertTrue(verify.stdout.contains("fit resnet50 without top"), verify.stdout)
        assertUserError(try CLI.run(["zoo", "verify", "\(CLI.fixtures)/cases.json"]), status: 1, ["cases.json", "not an HDF5 file"])
    }

    func testZooFetchFailuresLeaveNothingInTheCache() throws {
        let cache = try temporaryDirectory("cache")
        let served = try temporaryDirectory("served")
        defer {
            try? FileManager.default.removeItem(at: cache)
            try? FileManager.default.removeItem(at: served)
        }
        // Offline: nothing listens on port 1.
        let offline = try CLI.run(["zoo", "fetch", "resnet50"],
                                  environment: ["FINETUNE_CACHE": cache.path, "FINETUNE_WEIGHTS_BASE": "http://127.0.0.1:1/"])
        assertUserError(offline, status: 1, ["offline", "--weights PATH", cache.path])

        // A server that sends a file whose md5 is not the published one.
        try FileManager.default.copyItem(atPath: "\(CLI.fixtures)/resnet50_notop.h5",
                                         toPath: served.appendingPathComponent("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5").path)
        try withLoopbackServer(serving: served) { base in
            let wrong = try CLI.run(["zoo", "fetch", "resnet50"],
                                    environment: ["FINETUNE_CACHE": cache.path, "FINETUNE_WEIGHTS_BASE": base + "good/"])
            assertUserError(wrong, status: 1, ["md5", "4d473c1dd8becc155b73f8504c6f6626", "nothing was cached"])
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.path), [])
    }
}
