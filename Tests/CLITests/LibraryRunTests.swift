import Foundation
import TestSupport
import XCTest

/// The run lives in the library: the library example, search trials that resume with `train --resume`,
/// and states saved by older versions (from their command line).
final class LibraryRunTests: XCTestCase {
    func testTheLibraryExampleFineTunesStopsResumesAndScores() throws {
        let directory = try temporaryDirectory("library-example")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try CLI.fashionMNISTFolders(in: directory)
        let example = CLI.binary.deletingLastPathComponent().appendingPathComponent("library-finetune-example")
        let run = directory.appendingPathComponent("run")
        let result = try execute(example, [data, "small_cnn", run.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        for line in ["stopped in phase 1; resuming", "phase 2 epoch 2:", "best validation accuracy", "validation: accuracy"] {
            XCTAssertTrue(result.stdout.contains(line), result.stdout)
        }
        XCTAssertTrue(result.stdout.contains("on 4 images"), "scored on the 4 images the run held out:\n\(result.stdout)")
        for file in ["best.h5", "last.h5", "report.html", "history.json", "split.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: run.appendingPathComponent(file).path), file)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: run.appendingPathComponent("resume.h5").path))
    }

    func testAnInterruptedSearchTrialResumesWithTrain() throws {
        let directory = try temporaryDirectory("search-resume")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try CLI.fashionMNISTFolders(in: directory)
        let search = directory.appendingPathComponent("search").path
        let stopped = try CLI.interrupt(["search", "--base", "small_cnn", "--weights", "none", "--data", data, "--image-size", "32",
                                         "--lr", "1e-3", "--epochs", "400", "--freeze-epochs", "1", "--output", search],
                                        after: "phase 2 epoch 2:")
        XCTAssertEqual(stopped.status, 130, stopped.stdout)
        let resumed = try CLI.run(["train", "--resume", "\(search)/trial-1"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming \(search)/trial-1 with: --base small_cnn --data \(data)"), resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("phase 2 epoch 399:"), resumed.stdout)
    }

    /// resume.h5 of earlier versions holds the command line instead of a configuration; it still resumes.
    func testAStateSavedWithArgumentsStillResumes() throws {
        let directory = try temporaryDirectory("resume-arguments")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try CLI.fashionMNISTFolders(in: directory)
        let run = directory.appendingPathComponent("run").path
        let arguments = ["--base", "small_cnn", "--weights", "none", "--data", data, "--image-size", "32", "--epochs", "400", "--output", run]
        XCTAssertEqual(try CLI.interrupt(arguments, after: "phase 2 epoch 2:").status, 130)
        let state = "\(run)/resume.h5"
        let script = """
        import h5py, json, sys
        with h5py.File(sys.argv[1], "r+") as f:
            del f.attrs["finetune_configuration"]
            f.attrs["finetune_arguments"] = json.dumps(sys.argv[2:])
        """
        XCTAssertEqual(try python(["-c", script, state] + arguments).status, 0)
        let resumed = try CLI.run(["train", "--resume", run])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming \(run) with: \(arguments.joined(separator: " "))"), resumed.stderr)
    }
}
