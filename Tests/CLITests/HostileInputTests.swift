import Foundation
import TestSupport
import XCTest

/// Files and flags made to break the tool (issue 23's sweep): each ends in one clear error that names
/// the file or flag, never a crash, a read outside the file, or a checkpoint claimed but not written.
final class HostileInputTests: XCTestCase {
    private static let idx = "/usr/share/datasets/fashion-mnist"

    /// Two Fashion-MNIST classes as PNG folders, 20 images each.
    private func twoClasses(in directory: URL) throws -> String {
        let data = directory.appendingPathComponent("data").path
        let converted = try CLI.run(["data", "convert-idx", "--images", "\(Self.idx)/t10k-images-idx3-ubyte.gz",
                                     "--labels", "\(Self.idx)/t10k-labels-idx1-ubyte.gz", "--classes", "0,1", "--per-class", "20",
                                     "--output", data])
        XCTAssertEqual(converted.status, 0, converted.stderr)
        return data
    }

    private func smallRun(data: String, output: String, epochs: Int = 1, environment: [String: String] = [:]) throws -> ProcessResult {
        try CLI.run(["--base", "small_cnn", "--weights", "none", "--data", data, "--image-size", "32",
                     "--epochs", "\(epochs)", "--freeze-epochs", "1", "--output", output], environment: environment)
    }

    func testWeightFilesThatReachOutsideThemselvesOrHoldNonsenseAreRefused() throws {
        let directory = try temporaryDirectory("hostile-weights")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try twoClasses(in: directory)
        let run = directory.appendingPathComponent("run").path
        XCTAssertEqual(try smallRun(data: data, output: run, epochs: 2).status, 0)
        let base = directory.appendingPathComponent("base.h5").path
        XCTAssertEqual(try CLI.run(["export-base", "--model", "\(run)/best.h5", "--output", base]).status, 0)
        let checkpoints = directory.appendingPathComponent("checkpoints").path, bases = directory.appendingPathComponent("bases").path
        for (source, out) in [("\(run)/best.h5", checkpoints), (base, bases)] {
            let made = try python(["Tests/fixtures/make_hostile_weights.py", source, out])
            XCTAssertEqual(made.status, 0, made.stderr)
        }
        let refusals = [
            "external-storage": "keeps its data in external files", "external-link": "is an external link to another file",
            "soft-link": "is a soft or user-defined link", "virtual": "is a virtual dataset",
            "huge-shape": "declares shape 1024x1024x1024x1024", "unwritten": "was never written",
            "nan": "holds NaN or infinite values", "infinite": "holds NaN or infinite values",
            "many-layers": "lists more than 10000 layers",
            "heap-overrun": "the string storage at byte", "heap-size-max": "declares 18446744073709551615 bytes",
            "heap-loop": "its free space is 0 bytes long",
            "string-length": "declares 1610612747 bytes where the file stores 11",
            "header-block": "a continuation block runs past the end of the file",
            "link-names": "its group's link names declare 1099511627776 bytes",
        ]
        for (name, reason) in refusals {
            let checkpoint = "\(checkpoints)/\(name).h5"
            assertUserError(try CLI.run(["evaluate", "--model", checkpoint, "--data", data]), status: 1, [checkpoint, reason])
            assertUserError(try CLI.run(["predict", "--model", checkpoint, data]), status: 1, [checkpoint, reason])
            let exported = directory.appendingPathComponent("exported-\(name).h5").path
            assertUserError(try CLI.run(["export-base", "--model", checkpoint, "--output", exported]), status: 1, [reason])
            XCTAssertFalse(FileManager.default.fileExists(atPath: exported), "nothing exported from \(name)")
            let weights = "\(bases)/\(name).h5"
            assertUserError(try CLI.run(["--base", "small_cnn", "--weights", weights, "--data", data, "--image-size", "32",
                                         "--output", directory.appendingPathComponent("from-\(name)").path]),
                            status: 1, [weights, reason])
            assertUserError(try CLI.run(["embed", "--base", "small_cnn", "--weights", weights, "--image-size", "32", "--pooling", "avg",
                                         "--images", "\(data)/0", "--output", directory.appendingPathComponent("\(name).npy").path]),
                            status: 1, [weights, reason])
        }
        // libhdf5 would allocate and copy that declared length twice (3 GB): refused within 512 MB of address space.
        let bounded = try execute(URL(fileURLWithPath: "/usr/bin/prlimit"),
                                  ["--as=\(512 << 20)", CLI.binary.path, "embed", "--base", "small_cnn", "--weights", "\(bases)/string-length.h5",
                                   "--image-size", "32", "--pooling", "avg", "--images", "\(data)/0",
                                   "--output", directory.appendingPathComponent("bounded.npy").path])
        assertUserError(bounded, status: 1, [refusals["string-length"]!])
        let records = [
            "damaged-info": "record is damaged (the record is not valid JSON)", "classes-missing": "record is damaged ('classes' is missing)",
            "hidden-negative": "needs at least one unit, got -5", "image-size-20000": "beyond the largest input size of 4096",
        ]
        for (name, reason) in records {
            let checkpoint = "\(checkpoints)/\(name).h5"
            assertUserError(try CLI.run(["evaluate", "--model", checkpoint, "--data", data]), status: 1, [checkpoint, reason])
        }
    }

    /// A disk that fills up: the run stops at the first checkpoint it cannot write, exits 1, claims no
    /// file it did not write, and the last resume.h5 it did write still resumes.
    func testAFullDiskStopsTheRunAndKeepsTheLastSavedState() throws {
        let directory = try temporaryDirectory("full-disk")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try twoClasses(in: directory)
        let disk = directory.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        // The head epoch's checkpoints and state fit (small_cnn's are 110 KB, its Adam state 330 KB); the next epoch's state does not.
        guard geteuid() == 0, try execute(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=500k", "tmpfs", disk.path]).status == 0 else {
            throw XCTSkip("mounting a small tmpfs needs root")
        }
        defer { _ = try? execute(URL(fileURLWithPath: "/bin/umount"), [disk.path]) }
        let run = disk.appendingPathComponent("run").path
        let full = try smallRun(data: data, output: run, epochs: 6)
        assertUserError(full, status: 1, ["cannot write \(run)/", "No space left on device", "The run stopped after phase",
                                          "finetune train --resume \(run)"])
        XCTAssertFalse(full.stdout.contains("checkpoints in"), full.stdout)
        let left = try FileManager.default.contentsOfDirectory(atPath: run)
        XCTAssertFalse(left.contains { $0.hasSuffix(".tmp") }, "no half-written file stays: \(left)")

        // Moved to a disk with room, the saved state resumes and the run finishes.
        let moved = directory.appendingPathComponent("moved").path
        try FileManager.default.copyItem(atPath: run, toPath: moved)
        let resumed = try CLI.run(["train", "--resume", moved])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("checkpoints in \(moved)/best.h5"), resumed.stdout)
    }

    /// A process killed while it writes a file leaves the file before it whole (written beside it, renamed).
    func testAKillDuringAWriteLeavesThePreviousFileWhole() throws {
        let directory = try temporaryDirectory("killed-write")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try twoClasses(in: directory)
        let run = directory.appendingPathComponent("run").path
        let train = try CLI.run(["--base", "resnet50", "--weights", "none", "--data", data, "--image-size", "32",
                                 "--schedule", "head:1@1e-3", "--output", run])
        XCTAssertEqual(train.status, 0, train.stderr)
        let exported = directory.appendingPathComponent("base.h5")
        XCTAssertEqual(try CLI.run(["export-base", "--model", "\(run)/best.h5", "--output", exported.path]).status, 0)
        let before = try Data(contentsOf: exported)

        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["export-base", "--model", "\(run)/last.h5", "--output", exported.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let temporary = directory.appendingPathComponent(".base.h5.\(process.processIdentifier).tmp").path
        while process.isRunning && !FileManager.default.fileExists(atPath: temporary) { usleep(200) }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal, "killed while it wrote \(temporary)")
        XCTAssertEqual(try Data(contentsOf: exported), before, "the earlier export is untouched")
        let embedded = try CLI.run(["embed", "--base", "resnet50", "--weights", exported.path, "--image-size", "32", "--pooling", "avg",
                                    "--images", "\(data)/0", "--output", directory.appendingPathComponent("x.npy").path])
        XCTAssertEqual(embedded.status, 0, embedded.stderr)
    }

    func testPathsFromDataFilesAndFlagsStayInTheirFolders() throws {
        let directory = try temporaryDirectory("escape")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try twoClasses(in: directory)
        // A CSV layout whose last row reaches two folders up.
        let csv = directory.appendingPathComponent("csv")
        try FileManager.default.createDirectory(at: csv.appendingPathComponent("images"), withIntermediateDirectories: true)
        var rows = "file,label\n"
        for label in ["0", "1"] {
            for file in try FileManager.default.contentsOfDirectory(atPath: "\(data)/\(label)") {
                try FileManager.default.copyItem(atPath: "\(data)/\(label)/\(file)", toPath: csv.appendingPathComponent("images/\(label)-\(file)").path)
                rows += "\(label)-\(file),\(label)\n"
            }
        }
        let outside = try FileManager.default.contentsOfDirectory(atPath: "\(data)/0")[0]
        try (rows + "../../data/0/\(outside),0\n").write(to: csv.appendingPathComponent("labels.csv"), atomically: true, encoding: .utf8)
        let reason = "labels.csv, line 42: '../../data/0/\(outside)' points outside \(csv.path)/images"
        assertUserError(try smallRun(data: csv.path, output: directory.appendingPathComponent("run").path), status: 1, [reason])
        // A label as long as a book would become a class name, a folder and a report heading.
        try (rows + "\(outside),\(String(repeating: "x", count: 1_000_000))\n").write(to: csv.appendingPathComponent("labels.csv"),
                                                                                   atomically: true, encoding: .utf8)
        assertUserError(try smallRun(data: csv.path, output: directory.appendingPathComponent("run").path), status: 1,
                        ["labels.csv, line 42: a label of 1000000 bytes; class names are at most 255 bytes"])
        // A row without a label is named as skipped, not dropped in silence.
        try (rows + "\(outside),\n").write(to: csv.appendingPathComponent("labels.csv"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: "\(data)/0/\(outside)", toPath: csv.appendingPathComponent("images/\(outside)").path)
        let unlabelled = try smallRun(data: csv.path, output: directory.appendingPathComponent("run-unlabelled").path)
        XCTAssertEqual(unlabelled.status, 0, unlabelled.stderr)
        XCTAssertTrue(unlabelled.stderr.contains("skipped \(csv.path)/images/\(outside): its row in the CSV has no label"), unlabelled.stderr)
        XCTAssertTrue(unlabelled.stdout.contains("skipped 1 file that cannot be used"), unlabelled.stdout)

        // Class names that would leave --output, or merge two classes into one folder.
        let output = directory.appendingPathComponent("deep/converted")
        for (names, message) in [("../../escaped,b", "'../../escaped' cannot be a class folder's name"), ("a/b,c", "'a/b' cannot be"),
                                 ("a,a", "'a' names two classes"), ("a,,b", "'' cannot be")] {
            assertUserError(try CLI.run(["data", "convert-idx", "--images", "\(Self.idx)/t10k-images-idx3-ubyte.gz",
                                         "--labels", "\(Self.idx)/t10k-labels-idx1-ubyte.gz", "--names", names,
                                         "--classes", "0,1", "--per-class", "2", "--output", output.path]),
                            status: 64, ["--names", message])
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: directory.appendingPathComponent("escaped").path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path))
    }

    func testImpossibleNumbersAreRefusedBeforeAnyWork() throws {
        let directory = try temporaryDirectory("numbers")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try twoClasses(in: directory)
        let train = ["--base", "resnet50", "--data", data, "--weights", "none", "--output", directory.appendingPathComponent("run").path]
        assertUserError(try CLI.run(train + ["--batch-size", "-5"]), status: 64, ["--batch-size must be at least 1, got -5"])
        assertUserError(try CLI.run(train + ["--l2", "nan"]), status: 64, ["--l1 and --l2 must be 0 or more"])
        assertUserError(try CLI.run(train + ["--lr", "inf"]), status: 64, ["--lr must be above 0"])
        assertUserError(try CLI.run(train + ["--zoom", "nan"]), status: 64, ["--zoom must be 0 or more, got nan"])
        assertUserError(try CLI.run(train + ["--zoom", "1.5"]), status: 64, ["--zoom must be below 1 (a fraction of the image), got 1.5"])
        assertUserError(try CLI.run(train + ["--rotation", "400"]), status: 64, ["--rotation must be at most 180 degrees, got 400"])
        assertUserError(try CLI.run(train + ["--image-size", "5000"]), status: 64, ["--image-size 5000 is above the largest input size of 4096"])
        assertUserError(try CLI.run(train + ["--image-size", "3000"]), status: 1, ["resnet50 at 3000x3000 needs about", "for a batch of 32 (training)"])
        assertUserError(try CLI.run(["embed", "--base", "resnet50", "--include-top", "--classes", "100000000", "--image-size", "32",
                                     "--images", "\(data)/0", "--output", directory.appendingPathComponent("x.npy").path]),
                        status: 1, ["predictions would have 2048 x 100000000 weights"])
        assertUserError(try CLI.run(["evaluate", "--model", directory.appendingPathComponent("missing.h5").path, "--data", data]),
                        status: 1, ["missing.h5 does not exist; check the path"])
    }

    /// An output that cannot be written is named before the work, in one line, without Foundation's error dump.
    func testUnwritableOutputsAreRefusedBeforeTheWork() throws {
        let directory = try temporaryDirectory("unwritable")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try twoClasses(in: directory)
        let run = directory.appendingPathComponent("run").path
        XCTAssertEqual(try smallRun(data: data, output: run).status, 0)
        let nowhere = directory.appendingPathComponent("no/such/folder/out").path
        for arguments in [["predict", "--model", "\(run)/best.h5", data, "--output", nowhere],
                          ["evaluate", "--model", "\(run)/best.h5", "--data", data, "--json", nowhere],
                          ["export-base", "--model", "\(run)/best.h5", "--output", nowhere],
                          ["embed", "--base", "small_cnn", "--image-size", "32", "--pooling", "avg", "--images", "\(data)/0", "--output", nowhere],
                          ["data", "inspect", data, "--json", nowhere]] {
            let result = try CLI.run(arguments)
            assertUserError(result, status: 1, ["cannot write \(nowhere): the folder", "does not exist"])
            XCTAssertFalse(result.stderr.contains("NSCocoaErrorDomain"), result.stderr)
        }
        assertUserError(try CLI.run(["predict", "--model", "\(run)/best.h5", data, "--output", directory.path]), status: 1, ["is a folder"])
    }
}
