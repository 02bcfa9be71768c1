import Foundation
import ImageData
import TestSupport
import XCTest

/// The validation split: seeded, stratified, disjoint from training; given train/ and val/ folders are used as they are.
final class SplitTests: XCTestCase {
    func testSplitIsDisjointStratifiedAndReproducible() throws {
        let root = try temporaryDirectory("split")
        defer { try? FileManager.default.removeItem(at: root) }
        XCTAssertEqual(try python(["Tests/fixtures/make_folder_dataset.py", root.path, "20", "5", "7", "9"]).status, 0)
        let folder = try ImageFolder(root: root.path, size: 32)
        let (train, validation) = folder.stratifiedSplit(validationFraction: 0.25, seed: 3)
        XCTAssertTrue(Set(train).isDisjoint(with: validation), "training and validation overlap")
        XCTAssertEqual(Set(train).union(validation), Set(0..<folder.count))
        for label in folder.classes.indices {
            XCTAssertEqual(validation.filter { folder.labels[$0] == label }.count, 5, "each class holds out its share")
        }
        let again = folder.stratifiedSplit(validationFraction: 0.25, seed: 3)
        XCTAssertEqual(again.validation, validation)
        XCTAssertNotEqual(folder.stratifiedSplit(validationFraction: 0.25, seed: 4).validation, validation)
    }

    func testGivenTrainAndValFoldersAreUsedAsGiven() throws {
        let root = try temporaryDirectory("given")
        defer { try? FileManager.default.removeItem(at: root) }
        XCTAssertEqual(try python(["Tests/fixtures/make_folder_dataset.py", root.appendingPathComponent("train").path, "12", "5", "7"]).status, 0)
        XCTAssertEqual(try python(["Tests/fixtures/make_folder_dataset.py", root.appendingPathComponent("val").path, "4", "5", "7", "--test"]).status, 0)
        let splits = try XCTUnwrap(ImageFolder.givenSplits(root.path))
        XCTAssertTrue(splits.train.hasSuffix("/train"))
        XCTAssertTrue(splits.validation?.hasSuffix("/val") == true)
        let binary = URL(fileURLWithPath: CommandLine.arguments.first { $0.hasSuffix(".xctest") } ?? CommandLine.arguments[0])
            .deletingLastPathComponent().appendingPathComponent("finetune")
        let run = try execute(binary, ["--base", "resnet50", "--data", root.path, "--weights", "none", "--image-size", "32",
                                       "--schedule", "head:1@1e-3", "--output", root.appendingPathComponent("run").path])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("2 classes, 24 training and 8 validation images"), run.stdout)
        let split = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("run/split.json"))) as! [String: [String]]
        // Named below the data folder, so that the run resumes from any directory.
        XCTAssertTrue(split["validation"]!.allSatisfy { $0.hasPrefix("val/") }, "\(split)")
        XCTAssertTrue(split["train"]!.allSatisfy { $0.hasPrefix("train/") }, "\(split)")
    }

    /// Beyond the memory budget images are decoded again for every batch: the same batches, bounded memory.
    func testStreamingGivesTheSameBatchesAsHoldingImages() throws {
        let root = try temporaryDirectory("streaming")
        defer { try? FileManager.default.removeItem(at: root) }
        XCTAssertEqual(try python(["Tests/fixtures/make_folder_dataset.py", root.path, "6", "5", "7"]).status, 0)
        let held = try ImageFolder(root: root.path, size: 40)
        let streamed = try ImageFolder(root: root.path, size: 40, memoryBudget: 40 * 40 * 3 * 5)
        XCTAssertFalse(held.streams)
        XCTAssertTrue(streamed.streams, "12 images of 4,800 bytes exceed a 24,000-byte budget")
        XCTAssertEqual(streamed.files, held.files)
        XCTAssertEqual(streamed.skipped.map(\.path), held.skipped.map(\.path))
        let batch = [7, 0, 3, 11]
        let augmentation = Augmentation(.standard)
        XCTAssertEqual(streamed.images(batch, preprocessing: .caffe).data, held.images(batch, preprocessing: .caffe).data)
        XCTAssertEqual(streamed.images(batch, preprocessing: .tf, augmentation: augmentation, seed: 5, view: 2).data,
                       held.images(batch, preprocessing: .tf, augmentation: augmentation, seed: 5, view: 2).data)

        // A file deleted after the data was read: the next image of its class takes its place.
        try FileManager.default.removeItem(atPath: streamed.files[0])
        XCTAssertEqual(streamed.image(at: 0).pixels, held.image(at: 1).pixels)
        XCTAssertEqual(held.labels[0], held.labels[1])
    }
}
