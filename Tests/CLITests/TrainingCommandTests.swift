import Foundation
import ImageData
import KerasFiles
import TestSupport
import XCTest

/// `finetune train`, `predict` and `evaluate` on a real folder data set, and the checkpoint in Keras.
final class TrainingCommandTests: XCTestCase {
    func testTrainPredictEvaluateAndKerasLoadsTheCheckpoint() throws {
        let directory = try temporaryDirectory("train")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data").path
        let made = try python(["Tests/fixtures/make_folder_dataset.py", data, "30", "5", "7", "9"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let run = directory.appendingPathComponent("run").path

        let train = try CLI.run(["--base", "resnet50", "--data", data, "--weights", "none", "--image-size", "32",
                                 "--schedule", "head:2@1e-3,conv5:1@1e-4", "--batch-size", "16", "--output", run])
        XCTAssertEqual(train.status, 0, train.stderr)
        for fragment in ["plan: resnet50 at 32x32, 3 classes, 72 training and 18 validation images", "Sandal: 24 train, 6 validation",
                         "phase 1: head for 2 epochs", "phase 2: conv5 for 1 epoch at 0.0001, base at 0.0001",
                         "BatchNorm: batch statistics in unfrozen groups",
                         "(from cached base features)", "validation loss", "estimate: base features", "peak memory about"] {
            XCTAssertTrue(train.stdout.contains(fragment), "missing '\(fragment)' in:\n\(train.stdout)")
        }
        XCTAssertTrue(train.stderr.contains("skipped \(data)/Sandal/notes.png"), train.stderr)
        for file in ["best.h5", "last.h5", "history.csv", "history.json", "split.json", "skipped.json", "report.html",
                     "loss.png", "accuracy.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(run)/\(file)"), file)
        }
        let history = try String(contentsOfFile: "\(run)/history.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(history.count, 4, "a header and three epochs")
        let report = try String(contentsOfFile: "\(run)/report.html", encoding: .utf8)
        for fragment in ["<svg", "<line", "Confusion matrix", "Sandal", "data:image/png;base64,", "mistakes first"] {
            XCTAssertTrue(report.contains(fragment), "report.html lacks \(fragment)")
        }
        for external in ["src='http", "src=\"http", "href=", "<link", "<script"] {
            XCTAssertFalse(report.contains(external), "the report needs no network: \(external)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(run)/loss.png")).prefix(4), Data([0x89, 0x50, 0x4E, 0x47]))

        // Predictions from the checkpoint alone, and Keras' own on the same images; with --tta, the mean of
        // Keras' predictions for the images and for their mirror images.
        let x = directory.appendingPathComponent("x.npy").path
        let images = try imageBatch(try imageFiles(["\(data)/Sneaker"]), height: 32, width: 32, preprocessing: .caffe)
        try NPY.write(images, to: x)
        for tta in [false, true] {
            let predict = try CLI.run(["predict", "--model", "\(run)/best.h5", "\(data)/Sneaker", "--top-k", "3"] + (tta ? ["--tta"] : []))
            XCTAssertEqual(predict.status, 0, predict.stderr)
            let rows = predict.stdout.split(separator: "\n").dropFirst()
            XCTAssertEqual(rows.count, 30)
            let ours = rows.map { row in row.split(separator: ",")[3].split(separator: ";").map { pair -> (String, Float) in
                let parts = pair.split(separator: ":")
                return (String(parts[0]), Float(parts[1])!)
            } }
            let y = directory.appendingPathComponent("y\(tta).npy").path
            let keras = try python(["Tests/fixtures/keras_load_model.py", "\(run)/best.h5", x, y] + (tta ? ["mirror-averaged"] : []))
            XCTAssertEqual(keras.status, 0, keras.stderr)
            let theirs = try NPY.read(y)
            let classes = ["Ankle boot", "Sandal", "Sneaker"]
            for (row, top) in ours.enumerated() {
                for (name, probability) in top {
                    XCTAssertEqual(probability, theirs.data[row * 3 + classes.firstIndex(of: name)!], accuracy: 1e-4, "tta \(tta)")
                }
            }
        }

        let scores = directory.appendingPathComponent("scores.json").path
        let evaluate = try CLI.run(["evaluate", "--model", "\(run)/best.h5", "--data", data, "--json", scores])
        XCTAssertEqual(evaluate.status, 0, evaluate.stderr)
        for fragment in ["accuracy", "confusion", "ROC AUC", "macro ROC AUC", "top losses:"] {
            XCTAssertTrue(evaluate.stdout.contains(fragment), "\(fragment) missing:\n\(evaluate.stdout)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scores))) as! [String: Any]
        XCTAssertEqual(json["images"] as? Int, 90)
        XCTAssertEqual((json["confusion"] as? [[Int]])?.joined().reduce(0, +), 90)
        XCTAssertEqual((json["rocAUC"] as? [Any])?.count, 3)
        XCTAssertEqual((json["topLosses"] as? [Any])?.count, 10)
        XCTAssertEqual(json["mirrorAveraged"] as? Bool, false)
        let mirrored = try CLI.run(["evaluate", "--model", "\(run)/best.h5", "--data", data, "--tta", "--json", scores])
        XCTAssertEqual(mirrored.status, 0, mirrored.stderr)
        XCTAssertTrue(mirrored.stdout.contains("on 90 images, each averaged with its mirror image"), mirrored.stdout)
        let mirroredJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scores))) as! [String: Any]
        XCTAssertEqual(mirroredJSON["mirrorAveraged"] as? Bool, true)

        // The fine-tuned base alone, in the published no-top layout: Keras and finetune load it.
        let base = directory.appendingPathComponent("base.h5").path
        let exported = try CLI.run(["export-base", "--model", "\(run)/best.h5", "--output", base])
        XCTAssertEqual(exported.status, 0, exported.stderr)
        let features = directory.appendingPathComponent("features.npy").path
        let kerasBase = try python(["Tests/fixtures/keras_predict.py", "resnet50", base, x, features, "32", "32", "0", "avg", "1000"])
        XCTAssertEqual(kerasBase.status, 0, kerasBase.stderr)
        let embedded = directory.appendingPathComponent("embedded.npy").path
        let embed = try CLI.run(["embed", "--base", "resnet50", "--weights", base, "--pooling", "avg", "--input", x, "--output", embedded])
        XCTAssertEqual(embed.status, 0, embed.stderr)
        let (ourFeatures, kerasFeatures) = (try NPY.read(embedded), try NPY.read(features))
        XCTAssertLessThanOrEqual(ourFeatures.maxAbsDifference(kerasFeatures), 1e-4 * max(kerasFeatures.maxMagnitude, 1))

        // A pretrained base keeps its BatchNorm statistics and learns at a tenth of the rate unless told otherwise;
        // per-transform flags override the augmentation policy, and --momentum, --weight-decay and --clip-norm reach the optimizer.
        let again = try CLI.run(["--base", "resnet50", "--data", data, "--weights", base, "--image-size", "32",
                                 "--schedule", "head:1@1e-3,conv5:1@1e-3", "--batch-size", "16", "--augment", "light",
                                 "--no-flip", "--rotation", "0", "--shift", "0.1", "--optimizer", "sgd", "--momentum", "0.9",
                                 "--weight-decay", "5e-4", "--clip-norm", "5", "--output", "\(run)-again"])
        XCTAssertEqual(again.status, 0, again.stderr)
        for fragment in ["phase 2: conv5 for 1 epoch at 0.001, base at 0.0001", "BatchNorm: inference mode throughout",
                         "augmentation: zoom ±10%, shift ±10%, brightness ±10%; head-only phases cache 4 views", "optimizer sgd (momentum 0.9, weight decay 0.0005, gradients clipped to norm 5.0)"] {
            XCTAssertTrue(again.stdout.contains(fragment), "missing '\(fragment)' in:\n\(again.stdout)")
        }

        // A small search over two learning rates keeps only the winner's checkpoint.
        let search = directory.appendingPathComponent("search").path
        let searched = try CLI.run(["search", "--base", "resnet50", "--data", data, "--weights", "none", "--image-size", "32",
                                    "--lr", "1e-3,3e-2", "--epochs", "1", "--freeze-epochs", "1", "--output", search])
        XCTAssertEqual(searched.status, 0, searched.stderr)
        let results = try String(contentsOfFile: "\(search)/results.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(results.count, 3)
        let accuracies = results.dropFirst().map { Float($0.split(separator: ",")[5])! }
        XCTAssertEqual(accuracies, accuracies.sorted(by: >), "results are sorted best first")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(search)/best.h5"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(search)/trial-1/best.h5"))
        XCTAssertTrue(searched.stdout.contains("best: trial"), searched.stdout)
    }

    func testTrainingMistakesAreClearBeforeAnyWork() throws {
        assertUserError(try CLI.run(["--base", "resnet50", "--data", "/nonexistent/flowers", "--weights", "none"]),
                        status: 1, ["/nonexistent/flowers", "does not exist"])
        assertUserError(try CLI.run(["--base", "resnet50", "--data", "x", "--schedule", "head:2@1e-3,conv9:1"]),
                        status: 64, ["--schedule", "unknown layer group 'conv9'", "conv1, conv2"])
        assertUserError(try CLI.run(["--base", "resnet50", "--data", "x", "--schedule", "head-3"]), status: 64, ["head-3", "GROUP:EPOCHS@RATE"])
        assertUserError(try CLI.run(["--base", "resnet50", "--data", "x", "--lr", "0"]), status: 64, ["--lr must be above 0"])
        assertUserError(try CLI.run(["--base", "resnet50", "--data", "x", "--freeze-epochs", "12"]), status: 64, ["--freeze-epochs"])
        assertUserError(try CLI.run(["--base", "resnet50", "--data", "x", "--optimizer", "lion"]), status: 64, ["lion", "--optimizer"])
        assertUserError(try CLI.run(["--base", "resnet50", "--data", "x", "--shift=-0.1"]), status: 64, ["--shift must be 0 or more"])
        assertUserError(try CLI.run(["--base", "resnet50", "--data", "x", "--momentum", "0.9"]), status: 64, ["--momentum applies to", "adam"])
        assertUserError(try CLI.run(["--base", "resnet50", "--data", "x", "--optimizer", "sgd", "--momentum", "1"]),
                        status: 64, ["--momentum must be in [0, 1)"])
        assertUserError(try CLI.run(["--base", "resnet50", "--data", "x", "--weight-decay=-0.1"]), status: 64, ["--weight-decay must be 0 or more"])
        assertUserError(try CLI.run(["--base", "resnet50", "--data", "x", "--clip-norm", "0"]), status: 64, ["--clip-norm must be above 0"])
        assertUserError(try CLI.run(["predict", "--model", "\(CLI.fixtures)/resnet50_notop.h5", "x.png"]),
                        status: 1, ["not a finetune checkpoint"])
    }
}

/// SIGTERM, a hang-up or SIGKILL mid-run, then `--resume`: the same final weights as a run that never stopped.
final class ResumeCommandTests: XCTestCase {
    func testInterruptedRunResumesToTheSameWeights() throws {
        let directory = try temporaryDirectory("resume")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data").path
        XCTAssertEqual(try python(["Tests/fixtures/make_folder_dataset.py", data, "24", "5", "7"]).status, 0)
        let arguments = ["--base", "resnet50", "--data", data, "--weights", "none", "--image-size", "32",
                         "--schedule", "head:1@1e-3,all:2@1e-3", "--batch-size", "8", "--dropout", "0.3", "--seed", "2"]
        let whole = directory.appendingPathComponent("whole").path
        XCTAssertEqual(try CLI.run(arguments + ["--output", whole]).status, 0)

        // Start the same run and stop it with SIGTERM once the unfrozen phase is under way.
        let stopped = directory.appendingPathComponent("stopped").path
        try interrupt(arguments + ["--output", stopped], with: SIGTERM, outputGone: false)
        // A closed terminal: the output goes away, then SIGHUP arrives. The run still saves its state.
        let hungUp = directory.appendingPathComponent("hung-up").path
        try interrupt(arguments + ["--output", hungUp], with: SIGHUP, outputGone: true)
        // Killed outright (SIGKILL: nothing saved at the time), and below its resumed run killed too: each continues
        // from the state of the last finished epoch, and the end is still the run that never stopped.
        let killed = directory.appendingPathComponent("killed").path
        let log = directory.appendingPathComponent("killed.log")
        try killOutright(arguments + ["--output", killed], log: log) {
            (try? String(contentsOf: log, encoding: .utf8))?.contains("phase 2/2") == true
        }
        XCTAssertTrue(savedPosition(killed) == [1, 0], "killed in phase 2: the state of the end of phase 1")

        assertUserError(try CLI.run(["train", "--resume", stopped, "--lr", "1"]), status: 64, ["--resume takes no other flags"])
        // An image added to the data meanwhile: the resumed run keeps the saved split, so it is left out.
        let split = try Data(contentsOf: URL(fileURLWithPath: "\(stopped)/split.json"))
        let classFolder = "\(data)/" + (try FileManager.default.contentsOfDirectory(atPath: data).filter { !$0.hasPrefix(".") }.sorted()[0])
        let image = try FileManager.default.contentsOfDirectory(atPath: classFolder).first { $0.hasSuffix(".png") }!
        try FileManager.default.copyItem(atPath: "\(classFolder)/\(image)", toPath: "\(classFolder)/added-later.png")
        let resumed = try CLI.run(["train", "--resume", stopped])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("1 files are not in the saved split (the first: \(classFolder)/added-later.png)"), resumed.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(stopped)/split.json")), split, "the resumed run reuses split.json")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(stopped)/resume.h5"), "a finished run removes its state")

        let (a, _) = try Checkpoint.load("\(whole)/last.h5")
        let (b, _) = try Checkpoint.load("\(stopped)/last.h5")
        for (x, y) in zip(a.layers, b.layers) {
            XCTAssertTrue(x.parameters.map(\.value) == y.parameters.map(\.value), "\(x.name) differs after resuming")
        }
        let history = try String(contentsOfFile: "\(stopped)/history.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(history.count, 4, "the resumed history continues the interrupted one")
        // Every step once, in order, with the losses and gradient norms of the run that never stopped.
        let steps = try String(contentsOfFile: "\(whole)/steps.csv", encoding: .utf8)
        XCTAssertEqual(steps.split(separator: "\n").count, 1 + 3 * 5, "a header and 5 steps in each of 3 epochs:\n\(steps)")
        XCTAssertEqual(try String(contentsOfFile: "\(stopped)/steps.csv", encoding: .utf8), steps)

        XCTAssertEqual(try CLI.run(["train", "--resume", hungUp]).status, 0)
        let (c, _) = try Checkpoint.load("\(hungUp)/last.h5")
        XCTAssertTrue(zip(a.layers, c.layers).allSatisfy { $0.parameters.map(\.value) == $1.parameters.map(\.value) },
                      "the run resumed after a hang-up ends with the weights of the run that never stopped")
        assertUserError(try CLI.run(["train", "--resume", hungUp]), status: 1, ["has no resume.h5", "finished"])

        try killOutright(["train", "--resume", killed], log: log) { savedPosition(killed) == [1, 1] }
        XCTAssertEqual(try CLI.run(["train", "--resume", killed]).status, 0)
        let (d, _) = try Checkpoint.load("\(killed)/last.h5")
        XCTAssertTrue(zip(a.layers, d.layers).allSatisfy { $0.parameters.map(\.value) == $1.parameters.map(\.value) },
                      "the run killed twice ends with the weights of the run that never stopped")
        XCTAssertEqual(try String(contentsOfFile: "\(killed)/history.csv", encoding: .utf8).split(separator: "\n").count, 4)
        XCTAssertEqual(try String(contentsOfFile: "\(killed)/steps.csv", encoding: .utf8), steps,
                       "the steps a killed run logged after its last saved epoch are dropped when it resumes")
    }

    /// The phase and epoch (from 0) where the state saved in `folder` continues, if there is one.
    private func savedPosition(_ folder: String) -> [Int]? {
        guard let text = try? KerasModelFile.attribute("finetune_position", in: "\(folder)/resume.h5"),
              let position = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let phase = position["phase"] as? Int, let epoch = position["epoch"] as? Int else { return nil }
        return [phase, epoch]
    }

    /// Runs `arguments` (output to `log`) until `ready`, then kills it with SIGKILL, which leaves it no time to save.
    private func killOutright(_ arguments: [String], log: URL, when ready: () -> Bool,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: log)
        process.standardError = FileHandle.nullDevice
        try process.run()
        while process.isRunning && !ready() { usleep(20_000) }
        XCTAssertTrue(process.isRunning, "the run ended before it could be killed", file: file, line: line)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Runs `arguments` until the unfrozen phase is under way, sends `signal` (after closing the run's output
    /// when `outputGone`), and checks that the run exits with 130 and leaves resume.h5.
    private func interrupt(_ arguments: [String], with signal: Int32, outputGone: Bool,
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = outputGone ? err : FileHandle.nullDevice
        try process.run()
        var seen = ""
        while !seen.contains("phase 2/2"), let chunk = try out.fileHandleForReading.read(upToCount: 64), !chunk.isEmpty {
            seen += String(decoding: chunk, as: UTF8.self)
        }
        if outputGone {
            try out.fileHandleForReading.close()
            try err.fileHandleForReading.close()
        }
        kill(process.processIdentifier, signal)
        if !outputGone { _ = out.fileHandleForReading.readDataToEndOfFile() }
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit, "the run ends by itself, not killed by the signal", file: file, line: line)
        XCTAssertEqual(process.terminationStatus, 130, "an interrupted run exits with 130", file: file, line: line)
        let output = arguments[arguments.firstIndex(of: "--output")! + 1]
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(output)/resume.h5"), file: file, line: line)
    }
}

/// The CSV layout: single- and multi-label training sets, and a test set whose CSV has no labels.
final class CSVLayoutTests: XCTestCase {
    func testMultiLabelCSVTrainsPredictsAndLoadsInKeras() throws {
        let directory = try temporaryDirectory("csv")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (train, test) = (directory.appendingPathComponent("train").path, directory.appendingPathComponent("test").path)
        XCTAssertEqual(try python(["Tests/fixtures/make_folder_dataset.py", train, "20", "5", "7", "8", "--csv", "--pairs"]).status, 0)
        XCTAssertEqual(try python(["Tests/fixtures/make_folder_dataset.py", test, "4", "5", "7", "--csv", "--unlabelled", "--test"]).status, 0)
        let run = directory.appendingPathComponent("run").path
        let trained = try CLI.run(["--base", "resnet50", "--data", train, "--weights", "none", "--image-size", "32",
                                   "--schedule", "head:3@1e-2", "--output", run])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        XCTAssertTrue(trained.stdout.contains("3 classes, 48 training and 12 validation images"), trained.stdout)
        let (_, info) = try Checkpoint.load("\(run)/best.h5")
        XCTAssertTrue(info.multiLabel)
        XCTAssertEqual(info.classes, ["Bag", "Sandal", "Sneaker"])

        let predicted = try CLI.run(["predict", "--model", "\(run)/best.h5", test])
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        let rows = predicted.stdout.split(separator: "\n")
        XCTAssertEqual(rows.count, 9, "a header and the 8 files the test CSV lists")
        XCTAssertTrue(rows[1].hasPrefix("0000.png,"), String(rows[1]))
        let probabilities = rows.dropFirst().flatMap { row in
            row.split(separator: ",").last!.split(separator: ";").map { Float($0.split(separator: ":")[1])! }
        }
        XCTAssertTrue(probabilities.allSatisfy { (0...1).contains($0) }, "sigmoid outputs")

        // Keras reads the multi-label checkpoint and gives the same sigmoid outputs.
        let folder = try ImageFolder(root: test, size: 32, classes: info.classes)
        let x = directory.appendingPathComponent("x.npy").path, y = directory.appendingPathComponent("y.npy").path
        try NPY.write(folder.images(Array(0..<folder.count), preprocessing: .caffe), to: x)
        XCTAssertEqual(try python(["Tests/fixtures/keras_load_model.py", "\(run)/best.h5", x, y]).status, 0)
        let (model, _) = try Checkpoint.load("\(run)/best.h5")
        XCTAssertLessThanOrEqual(try model.predict(try NPY.read(x)).maxAbsDifference(try NPY.read(y)), 1e-4)

        let evaluated = try CLI.run(["evaluate", "--model", "\(run)/best.h5", "--data", train])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
        XCTAssertTrue(evaluated.stdout.contains("multi-label: exact match"), evaluated.stdout)
    }

    func testSingleLabelCSVReadsLikeFolders() throws {
        let directory = try temporaryDirectory("csv-single")
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertEqual(try python(["Tests/fixtures/make_folder_dataset.py", directory.path, "6", "5", "9", "--csv"]).status, 0)
        let folder = try ImageFolder(root: directory.path, size: 32)
        XCTAssertEqual(folder.classes, ["Ankle boot", "Sandal"])
        XCTAssertFalse(folder.isMultiLabel)
        XCTAssertEqual(folder.count, 12)
        XCTAssertEqual(folder.labels.filter { $0 == 1 }.count, 6)
    }
}

/// IDX files and .npz archives as training data from the command line.
extension CSVLayoutTests {
    /// The header is recognised by its names in either order; a CSV without a header keeps its first row.
    func testCSVColumnsAreFoundByName() throws {
        let directory = try temporaryDirectory("csv-columns")
        defer { try? FileManager.default.removeItem(at: directory) }
        let pngs = directory.appendingPathComponent("pngs")
        XCTAssertEqual(try CLI.run(["data", "convert-idx", "--images", "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                    "--labels", "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", "--classes", "0,1",
                                    "--per-class", "5", "--output", pngs.path]).status, 0)
        var rows: [(file: String, label: String)] = []
        for label in ["0", "1"] {
            for name in try FileManager.default.contentsOfDirectory(atPath: pngs.appendingPathComponent(label).path).sorted() {
                rows.append(("\(label)-\(name)", label))
            }
        }
        for (name, text) in [("reversed", "label,image\n" + rows.map { "\($0.label),\($0.file)" }.joined(separator: "\n")),
                             ("headerless", rows.map { "\($0.file),\($0.label)" }.joined(separator: "\n"))] {
            let data = directory.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: data.appendingPathComponent("images"), withIntermediateDirectories: true)
            for row in rows {
                try FileManager.default.copyItem(at: pngs.appendingPathComponent("\(row.label)/\(row.file.dropFirst(2))"),
                                                 to: data.appendingPathComponent("images/\(row.file)"))
            }
            try (text + "\n").write(to: data.appendingPathComponent("labels.csv"), atomically: true, encoding: .utf8)
            let inspected = try CLI.run(["data", "inspect", data.path])
            XCTAssertEqual(inspected.status, 0, inspected.stderr)
            XCTAssertTrue(inspected.stdout.contains("  0: 5\n  1: 5\n"), "\(name): classes from the CSV:\n\(inspected.stdout)")
            let run = try CLI.run(["--base", "small_cnn", "--weights", "none", "--data", data.path, "--image-size", "32",
                                   "--schedule", "head:1@1e-3", "--val-split", "0", "--output", directory.appendingPathComponent("run-\(name)").path])
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stdout.contains("2 classes, 10 training"), "\(name): every row is an image:\n\(run.stdout)")
        }
    }
}

final class ArrayDataTests: XCTestCase {
    func testIDXAndNPZTrain() throws {
        let directory = try temporaryDirectory("arrays")
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertEqual(try python(["Tests/fixtures/make_array_datasets.py", directory.path]).status, 0)
        // IDX validates on 20% of its training files (its t10k files are the test set, for evaluate).
        for (data, expected) in [("idx", "3 classes, 48 training and 12 validation images"), ("data.npz", "3 classes, 48 training and 12 validation images")] {
            let run = try CLI.run(["--base", "resnet50", "--data", directory.appendingPathComponent(data).path, "--weights", "none",
                                   "--image-size", "32", "--schedule", "head:1@1e-3", "--output", directory.appendingPathComponent("run-\(data)").path])
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stdout.contains(expected), "\(data): \(run.stdout)")
        }
        // With nothing held out, the summary names training accuracy as what picked best.h5.
        let whole = try CLI.run(["--base", "resnet50", "--data", directory.appendingPathComponent("data.npz").path, "--weights", "none",
                                 "--image-size", "32", "--schedule", "head:1@1e-3", "--val-split", "0",
                                 "--output", directory.appendingPathComponent("run-whole").path])
        XCTAssertEqual(whole.status, 0, whole.stderr)
        XCTAssertTrue(whole.stdout.contains("best training accuracy (no validation images)"), whole.stdout)
        XCTAssertFalse(whole.stdout.contains("validation accuracy"), whole.stdout)
        let bad = directory.appendingPathComponent("bad.npz").path
        XCTAssertEqual(try python(["-c", "import numpy as np; np.savez('\(bad)', images=np.zeros((2, 8, 8), 'uint8'))"]).status, 0)
        assertUserError(try CLI.run(["--base", "resnet50", "--data", bad, "--weights", "none", "--image-size", "32",
                                     "--output", directory.appendingPathComponent("run-bad").path]),
                        status: 1, ["bad.npz", "needs arrays named x (images) and y (labels)"])
    }

    /// evaluate reads the layouts train reads (an IDX folder's t10k files, an .npz archive); predict and embed
    /// skip a file they cannot read, name it, and go on.
    func testEvaluatePredictAndEmbedTakeEveryLayout() throws {
        let directory = try temporaryDirectory("vocabulary")
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertEqual(try python(["Tests/fixtures/make_array_datasets.py", directory.path]).status, 0)
        let run = directory.appendingPathComponent("run").path
        XCTAssertEqual(try CLI.run(["--base", "small_cnn", "--data", directory.appendingPathComponent("idx").path, "--weights", "none",
                                    "--image-size", "32", "--schedule", "head:1@1e-3", "--output", run]).status, 0)
        let inspected = try CLI.run(["data", "inspect", directory.appendingPathComponent("idx").path])
        XCTAssertTrue(inspected.stdout.contains("train/0:") && inspected.stdout.contains("t10k/2:") && inspected.stdout.contains("IDX arrays 90"),
                      inspected.stdout)
        for (data, images) in [("idx", 30), ("data.npz", 60)] {
            let scored = try CLI.run(["evaluate", "--model", "\(run)/best.h5", "--data", directory.appendingPathComponent(data).path])
            XCTAssertEqual(scored.status, 0, scored.stderr)
            XCTAssertTrue(scored.stdout.contains("on \(images) images"), "\(data): \(scored.stdout)")
        }
        let photos = directory.appendingPathComponent("photos/sub")
        try FileManager.default.createDirectory(at: photos, withIntermediateDirectories: true)
        XCTAssertEqual(try CLI.run(["data", "convert-idx", "--images", "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                    "--labels", "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", "--classes", "0",
                                    "--per-class", "3", "--output", photos.appendingPathComponent("pngs").path]).status, 0)
        try Data("not an image".utf8).write(to: photos.appendingPathComponent("broken.png"))
        let predicted = try CLI.run(["predict", "--model", "\(run)/best.h5", directory.appendingPathComponent("photos").path])
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        XCTAssertEqual(predicted.stdout.split(separator: "\n").count, 4, predicted.stdout)
        XCTAssertTrue(predicted.stdout.contains("photos/sub/pngs/0/"), "files in sub-folders, named by their path: \(predicted.stdout)")
        XCTAssertTrue(predicted.stderr.contains("skipped 1 file that cannot be used") && predicted.stderr.contains("broken.png"), predicted.stderr)
        let features = directory.appendingPathComponent("features.npy").path
        let embedded = try CLI.run(["embed", "--base", "small_cnn", "--image-size", "32", "--pooling", "avg",
                                    "--images", directory.appendingPathComponent("photos").path, "--output", features])
        XCTAssertEqual(embedded.status, 0, embedded.stderr)
        XCTAssertTrue(embedded.stderr.contains("broken.png"), embedded.stderr)
        XCTAssertEqual(try String(contentsOfFile: features + ".txt", encoding: .utf8).split(separator: "\n").count, 3)
    }
}
