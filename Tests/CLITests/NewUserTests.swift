import Foundation
import ImageData
import KerasFiles
import TestSupport
import XCTest

/// What a new user meets in the first hour (issue 24): defaults that adapt, flags that cannot apply
/// are named, and the plan says where validation images come from.
final class NewUserTests: XCTestCase {
    private static let idx = "/usr/share/datasets/fashion-mnist"

    private func classFolders(_ directory: URL, name: String, perClass: Int = 10) throws -> String {
        try CLI.fashionMNISTFolders(in: directory, name: name, perClass: perClass)
    }

    /// --monitor picks what best.h5 holds; the head phase's rate counts cached features; a search names
    /// no checkpoint it then deletes.
    func testMonitorPicksTheBestCheckpointAndSearchNamesOnlyWhatItKeeps() throws {
        let directory = try temporaryDirectory("monitor")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try classFolders(directory, name: "data")
        let run = directory.appendingPathComponent("run")
        let trained = try CLI.run(["--base", "small_cnn", "--weights", "none", "--data", data, "--image-size", "32",
                                   "--schedule", "head:2@1e-3,all:3@1e-2", "--monitor", "val_loss", "--output", run.path])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        XCTAssertTrue(trained.stdout.contains("features/s"), trained.stdout)
        let rows = try String(contentsOf: run.appendingPathComponent("history.csv"), encoding: .utf8).split(separator: "\n").dropFirst()
        let lowest = rows.map { Float($0.split(separator: ",", omittingEmptySubsequences: false)[5])! }.min()!
        XCTAssertTrue(trained.stdout.contains("best validation loss \(String(format: "%.4f", lowest))"), trained.stdout)
        let (_, info) = try Checkpoint.load(run.appendingPathComponent("best.h5").path)
        XCTAssertEqual(info.settings["monitor"], "val_loss")

        assertUserError(try CLI.run(["--base", "small_cnn", "--data", data, "--monitor", "loss"]), status: 64, ["val_accuracy", "val_loss"])
        let search = try CLI.run(["search", "--base", "small_cnn", "--weights", "none", "--data", data, "--image-size", "32",
                                  "--epochs", "1", "--freeze-epochs", "0", "--output", directory.appendingPathComponent("search").path])
        XCTAssertEqual(search.status, 0, search.stderr)
        XCTAssertFalse(search.stdout.contains("trial-1/best.h5"), search.stdout)
        XCTAssertTrue(search.stdout.contains("search/best.h5"), search.stdout)
    }

    func testDefaultsAdaptAndIgnoredFlagsAreNamed() throws {
        let directory = try temporaryDirectory("new-user")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try classFolders(directory, name: "data")
        let small = ["--base", "small_cnn", "--weights", "none", "--data", data, "--image-size", "32"]
        func output(_ name: String) -> [String] { ["--output", directory.appendingPathComponent(name).path] }

        // --epochs 1 alone: the default head epochs shrink to fit (half of --epochs, at most 3).
        let one = try CLI.run(small + ["--epochs", "1"] + output("one"))
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertTrue(one.stdout.contains("phase 1: all for 1 epoch at"), one.stdout)
        XCTAssertTrue(one.stdout.contains("validation: 20% of each class held out (seeded, stratified"), one.stdout)
        XCTAssertTrue(one.stdout.contains("rate within phases constant"), one.stdout)

        let scheduled = try CLI.run(small + ["--schedule", "all:1", "--epochs", "3", "--lr-schedule", "cosine:2"] + output("scheduled"))
        XCTAssertEqual(scheduled.status, 0, scheduled.stderr)
        for warning in ["warning: --epochs and --freeze-epochs are ignored: --schedule sets the phases",
                        "warning: the cosine warm-up of 2 epochs fills phase all (1 epoch): its rate never decays"] {
            XCTAssertTrue(scheduled.stderr.contains(warning), scheduled.stderr)
        }
        XCTAssertTrue(scheduled.stdout.contains("rate within phases cosine:2,"), "no Swift debug text in the plan:\n\(scheduled.stdout)")

        // Data that comes split: --val-split cannot apply, and the plan says where validation comes from.
        let split = directory.appendingPathComponent("split")
        try FileManager.default.createDirectory(at: split, withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: data, toPath: split.appendingPathComponent("train").path)
        _ = try classFolders(split, name: "val", perClass: 4)
        let given = try CLI.run(["--base", "small_cnn", "--weights", "none", "--data", split.path, "--image-size", "32", "--epochs", "1",
                                 "--val-split", "0.3"] + output("given"))
        XCTAssertEqual(given.status, 0, given.stderr)
        XCTAssertTrue(given.stderr.contains("warning: --val-split is ignored: the data comes with its own validation folder"), given.stderr)
        XCTAssertTrue(given.stdout.contains("validation: the data's own validation folder"), given.stdout)
        XCTAssertTrue(given.stdout.contains("20 training and 8 validation images"), given.stdout)
    }

    /// convert-idx never mixes an earlier conversion with a new one, and names labels and counts plainly.
    func testConvertIDXNeverMixesConversions() throws {
        let directory = try temporaryDirectory("convert-again")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try classFolders(directory, name: "data", perClass: 2)
        let convert = ["data", "convert-idx", "--images", "\(Self.idx)/t10k-images-idx3-ubyte.gz", "--labels", "\(Self.idx)/t10k-labels-idx1-ubyte.gz",
                       "--classes", "2,3", "--per-class", "2", "--output", data]
        assertUserError(try CLI.run(convert), status: 64, ["\(data) already holds files", "--overwrite"])
        XCTAssertEqual(try CLI.run(convert + ["--overwrite"]).status, 0)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: data).sorted(), ["2", "3"], "the earlier classes are gone")
        try "mine".write(toFile: "\(data)/notes.txt", atomically: true, encoding: .utf8)
        assertUserError(try CLI.run(convert + ["--overwrite"]), status: 64, ["not an earlier conversion's class folders"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(data)/notes.txt"), "files the command did not write are never removed")

        let fresh = directory.appendingPathComponent("fresh").path
        assertUserError(try CLI.run(["data", "convert-idx", "--images", "\(Self.idx)/t10k-images-idx3-ubyte.gz", "--labels",
                                     "\(Self.idx)/t10k-labels-idx1-ubyte.gz", "--classes", "0,12", "--output", fresh]),
                        status: 64, ["--classes", "has no label 12 (its labels: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)"])
        assertUserError(try CLI.run(["data", "convert-idx", "--images", "\(Self.idx)/t10k-images-idx3-ubyte.gz", "--labels",
                                     "\(Self.idx)/train-labels-idx1-ubyte.gz", "--output", fresh]),
                        status: 1, ["holds 60000 labels for the 10000 images"])
    }

    /// The zoo tells published models from the baseline, a verified cache from a file that only has the
    /// right name, and recognises this tool's own checkpoints; embed says when its weights are random.
    func testTheZooSaysWhatIsRealAndEmbedWhatIsRandom() throws {
        let directory = try temporaryDirectory("zoo-truth")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cache = directory.appendingPathComponent("cache")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        try "not the weights".write(to: cache.appendingPathComponent("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
                                    atomically: true, encoding: .utf8)
        let list = try CLI.run(["zoo", "list"], environment: ["FINETUNE_CACHE": cache.path])
        XCTAssertEqual(list.status, 0, list.stderr)
        for fragment in ["resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 md5 4d473c1dd8becc155b73f8504c6f6626 [in the cache but its md5 is not the published one",
                         "resnet50_weights_tf_dim_ordering_tf_kernels.h5 md5 2cb95161c43110f7111970584f804107 [not cached]",
                         "small_cnn (a small CNN of this project's, for baselines)"] {
            XCTAssertTrue(list.stdout.contains(fragment), "zoo list lacks '\(fragment)':\n\(list.stdout)")
        }
        XCTAssertFalse(list.stdout.contains("keras.applications.SmallCNN"), list.stdout)

        let data = try classFolders(directory, name: "data")
        let run = directory.appendingPathComponent("run").path
        XCTAssertEqual(try CLI.run(["--base", "small_cnn", "--weights", "none", "--data", data, "--image-size", "32", "--epochs", "1",
                                    "--output", run]).status, 0)
        let verify = try CLI.run(["zoo", "verify", "\(run)/best.h5"])
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertTrue(verify.stdout.contains("a finetune checkpoint: small_cnn at 32x32, 2 classes (0, 1), tf preprocessing"), verify.stdout)

        let embed = try CLI.run(["embed", "--base", "small_cnn", "--image-size", "32", "--pooling", "avg", "--images", "\(data)/0",
                                 "--output", directory.appendingPathComponent("x.npy").path])
        XCTAssertEqual(embed.status, 0, embed.stderr)
        XCTAssertTrue(embed.stderr.contains("warning: no --weights given: the model has random weights"), embed.stderr)
    }

    /// An IDX folder validates on a held-out share of its training files; its t10k files stay the test set.
    func testIDXFoldersValidateOnTrainingFilesNotOnTheTestSet() throws {
        let directory = try temporaryDirectory("idx-validation")
        defer { try? FileManager.default.removeItem(at: directory) }
        let folder = directory.appendingPathComponent("idx").path
        let made = try python(["-c", """
            import gzip, os, sys
            import numpy as np
            source, out = sys.argv[1], sys.argv[2]
            os.makedirs(out)
            def read(name, offset):
                with gzip.open(os.path.join(source, name)) as f:
                    return np.frombuffer(f.read(), np.uint8, offset=offset)
            images = read("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
            labels = read("t10k-labels-idx1-ubyte.gz", 8)
            keep = np.concatenate([np.flatnonzero(labels == c)[:30] for c in (0, 1)])
            for prefix, part in (("train", keep[::2]), ("t10k", keep[1::2])):
                with gzip.open(os.path.join(out, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
                    f.write(bytes([0, 0, 8, 3]) + len(part).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + images[part].tobytes())
                with gzip.open(os.path.join(out, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
                    f.write(bytes([0, 0, 8, 1]) + len(part).to_bytes(4, "big") + labels[part].tobytes())
            """, Self.idx, folder])
        XCTAssertEqual(made.status, 0, made.stderr)
        let run = try CLI.run(["--base", "small_cnn", "--weights", "none", "--data", folder, "--image-size", "32", "--epochs", "1",
                               "--val-split", "0.2", "--output", directory.appendingPathComponent("run").path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("24 training and 6 validation images"), run.stdout)
        XCTAssertTrue(run.stdout.contains("validation: 20% of each class held out"), run.stdout)
    }
}
