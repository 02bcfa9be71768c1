import Foundation
import TestSupport
import XCTest

/// A new run never writes over an earlier one unasked.
final class RunFolderTests: XCTestCase {
    func testEachRunGetsItsOwnFolderAndAnEarlierRunIsReplacedOnlyWhenAsked() throws {
        let directory = try temporaryDirectory("run-folders")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data").path
        XCTAssertEqual(try CLI.run(["data", "convert-idx", "--images", "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                    "--labels", "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", "--classes", "0,1",
                                    "--per-class", "10", "--output", data]).status, 0)
        let train = ["--base", "small_cnn", "--weights", "none", "--data", data, "--image-size", "32", "--epochs", "1", "--freeze-epochs", "0"]

        // Without --output: runs/small_cnn-1, then -2, and runs/latest follows the newest.
        for n in 1...2 {
            let run = try CLI.run(train, in: directory)
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stdout.contains("checkpoints in runs/small_cnn-\(n)/best.h5"), run.stdout)
            XCTAssertEqual(try FileManager.default.destinationOfSymbolicLink(atPath: directory.appendingPathComponent("runs/latest").path),
                           "small_cnn-\(n)")
        }
        let first = directory.appendingPathComponent("runs/small_cnn-1/best.h5")
        let before = try Data(contentsOf: first)

        // A folder holding a run is refused, and left as it was, unless --overwrite.
        let again = try CLI.run(train + ["--seed", "5", "--output", "runs/small_cnn-1"], in: directory)
        assertUserError(again, status: 64, ["runs/small_cnn-1 holds an earlier run", "--overwrite"])
        XCTAssertEqual(try Data(contentsOf: first), before)
        let replaced = try CLI.run(train + ["--seed", "5", "--output", "runs/small_cnn-1", "--overwrite"], in: directory)
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertNotEqual(try Data(contentsOf: first), before)

        // An interrupted run's folder points to --resume.
        try FileManager.default.copyItem(at: first, to: directory.appendingPathComponent("runs/small_cnn-2/resume.h5"))
        assertUserError(try CLI.run(train + ["--output", "runs/small_cnn-2"], in: directory), status: 64,
                        ["holds an interrupted run (continue it with: finetune train --resume runs/small_cnn-2)"])

        // A search into the folder of an earlier search likewise.
        let search = ["search", "--base", "small_cnn", "--weights", "none", "--data", data, "--image-size", "32",
                      "--lr", "1e-3", "--epochs", "1", "--freeze-epochs", "0", "--output", "runs/tuning"]
        XCTAssertEqual(try CLI.run(search, in: directory).status, 0)
        assertUserError(try CLI.run(search, in: directory), status: 64, ["runs/tuning holds an earlier run"])
        XCTAssertEqual(try CLI.run(search + ["--overwrite"], in: directory).status, 0)
    }

    /// A run started with relative paths resumes from any working directory, on the same split.
    func testARunResumesFromAnotherDirectory() throws {
        let directory = try temporaryDirectory("resume-elsewhere")
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertEqual(try CLI.run(["data", "convert-idx", "--images", "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                    "--labels", "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", "--classes", "0,1",
                                    "--per-class", "10", "--output", directory.appendingPathComponent("data").path]).status, 0)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["--base", "small_cnn", "--weights", "none", "--data", "data/", "--image-size", "32", "--epochs", "400",
                             "--output", "run"]
        process.currentDirectoryURL = directory
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var printed = ""
        while !printed.contains("phase 2 epoch 2:") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGTERM)
        _ = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130, printed)
        let split = try String(contentsOf: directory.appendingPathComponent("run/split.json"), encoding: .utf8)
        XCTAssertTrue(split.contains("\"0\\/"), "split.json names files below the data folder:\n\(split)")

        let resumed = try CLI.run(["train", "--resume", directory.appendingPathComponent("run").path])  // from the package root
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("--data \(directory.appendingPathComponent("data").path)"), resumed.stderr)
        for complaint in ["cannot be used any more", "not in the saved split"] {
            XCTAssertFalse(resumed.stderr.contains(complaint), resumed.stderr)
        }
        XCTAssertTrue(resumed.stdout.contains("16 training and 4 validation images"), resumed.stdout)
    }
}
