import Foundation
import TestSupport
import XCTest

/// Hostile .npy, .npz and IDX files (issue 23): impossible or overflowing shapes, decompression bombs,
/// labels that are not class numbers, damaged unused members. Each ends in one clear error or a normal
/// run, never a trap, a hang or a huge allocation. Files from Tests/fixtures/make_hostile_arrays.py.
final class HostileArrayTests: XCTestCase {
    static let directory: URL = {
        let directory = try! temporaryDirectory("hostile-arrays")
        let made = try! python(["Tests/fixtures/make_hostile_arrays.py", directory.path])
        precondition(made.status == 0, made.stderr)
        return directory
    }()

    private func file(_ name: String) -> String { Self.directory.appendingPathComponent(name).path }

    private func train(_ data: String, _ extra: [String] = []) throws -> ProcessResult {
        try CLI.run(["--base", "resnet50", "--data", file(data), "--weights", "none", "--image-size", "32", "--schedule", "head:1@1e-3",
                     "--output", Self.directory.appendingPathComponent("run-\(UUID().uuidString)").path] + extra)
    }

    func testImpossibleShapesAreUserErrors() throws {
        for (input, fragment) in [("npy/huge-shape.npy", "more than any file can hold"), ("npy/no-images.npy", "with at least one image")] {
            assertUserError(try CLI.run(["embed", "--base", "resnet50", "--weights", "none", "--input", file(input),
                                         "--output", file("out.npy")]), status: 1, [input, fragment])
        }
        for (data, fragment) in [("npz/huge-shape.npz", "more than any file can hold"),
                                 ("npz/negative-shape.npz", "every dimension must be a whole number, 0 or more"),
                                 ("npz/empty-images.npz", "at least one image of at least one pixel"),
                                 ("idx-huge", "more than any file can hold"), ("idx-rank255", "declares 255 dimensions"),
                                 ("idx-zero", "needs at least one of each dimension")] {
            assertUserError(try train(data), status: 1, [data, fragment])
        }
    }

    func testDecompressionBombsAreRefusedBeforeInflating() throws {
        for data in ["npz/inflates-200mb.npz", "idx-inflates-200mb"] {
            let (result, peak) = try runMeasured(["--base", "resnet50", "--data", file(data), "--weights", "none",
                                                  "--output", file("run-bomb")])
            assertUserError(result, status: 1, [data, "decompression bomb"])
            XCTAssertLessThan(peak, 150, "\(data): peak \(peak) MB")
        }
    }

    /// Classes are the labels present: [0, 1000000] makes two classes (not a million), named by their values.
    func testLabelsPresentAreTheClasses() throws {
        for (data, name) in [("npz/label-million.npz", "1000000"), ("npz/label-max.npz", "9223372036854775807")] {
            let run = try train(data, ["--val-split", "0"])
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stdout.contains("2 classes, 2 training"), run.stdout)
            XCTAssertTrue(run.stdout.contains("  \(name): 1 train"), run.stdout)
        }
        assertUserError(try train("npz/1001-classes.npz"), status: 1, ["1001 distinct labels", "at most 1000 classes"])
    }

    /// Only x and y are read: a damaged member beside them is never extracted.
    func testUnusedMembersAreNotRead() throws {
        let run = try train("npz/damaged-unused.npz")
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("2 classes"), run.stdout)
    }

    /// --image-memory bounds array data as it bounds folders: 2,000 IDX images at 224 px (301 MB
    /// resized) stay unresized under a small budget. The set has one class, so the run stops after
    /// reading it.
    func testImageMemoryBoundsArrayData() throws {
        let arguments = ["--base", "resnet50", "--data", file("idx-one-class"), "--weights", "none", "--image-size", "224"]
        let (held, heldPeak) = try runMeasured(arguments + ["--output", file("run-held")])
        assertUserError(held, status: 1, ["one class (3)"])
        XCTAssertGreaterThan(heldPeak, 300, "held: the 301 MB of resized images")
        let (streamed, streamedPeak) = try runMeasured(arguments + ["--image-memory", "0.05", "--output", file("run-streamed")])
        assertUserError(streamed, status: 1, ["one class (3)"])
        XCTAssertLessThan(streamedPeak, 150, "streamed")
    }

    /// The binary's result and peak resident memory in MB, measured by a fresh python3 that runs it.
    private func runMeasured(_ arguments: [String]) throws -> (ProcessResult, Int) {
        let script = """
            import resource, subprocess, sys
            r = subprocess.run(sys.argv[1:], capture_output=True)
            sys.stdout.buffer.write(r.stdout)
            sys.stderr.buffer.write(r.stderr + b"\\npeak-kb %d" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            sys.exit(r.returncode)
            """
        let result = try python(["-c", script, CLI.binary.path] + arguments)
        let peak = try XCTUnwrap(result.stderr.components(separatedBy: "peak-kb ").last.flatMap { Int($0) })
        return (result, peak / 1024)
    }
}
