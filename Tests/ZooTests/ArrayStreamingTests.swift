import Foundation
import ImageData
import TestSupport
import XCTest

/// IDX files and .npz archives: classes are the labels present, and beyond the memory budget images
/// are resized from the array for every batch, giving the same batches as when held.
final class ArrayStreamingTests: XCTestCase {
    func testStreamedArraysGiveTheSameBatchesAsHeldOnes() throws {
        let root = try temporaryDirectory("array-streaming")
        defer { try? FileManager.default.removeItem(at: root) }
        XCTAssertEqual(try python(["Tests/fixtures/make_array_datasets.py", root.path]).status, 0)
        let npz = root.appendingPathComponent("data.npz").path
        let idx = root.appendingPathComponent("idx").path
        let pairs = [(try ImageFolder.npz(npz, size: 40), try ImageFolder.npz(npz, size: 40, memoryBudget: 40 * 40 * 3 * 5)),
                     (try XCTUnwrap(ImageFolder.idx(root: idx, prefix: "train", size: 40)),
                      try XCTUnwrap(ImageFolder.idx(root: idx, prefix: "train", size: 40, memoryBudget: 0)))]
        for (held, streamed) in pairs {
            XCTAssertFalse(held.streams)
            XCTAssertTrue(streamed.streams, "\(streamed.root): 60 images of 4,800 bytes exceed the budget")
            XCTAssertEqual(held.classes, ["0", "1", "2"])
            XCTAssertEqual(streamed.classes, held.classes)
            XCTAssertEqual(streamed.labels, held.labels)
            let batch = [7, 0, 3, 11, 47]
            let augmentation = Augmentation(.standard)
            XCTAssertEqual(streamed.images(batch, preprocessing: .caffe).data, held.images(batch, preprocessing: .caffe).data)
            XCTAssertEqual(streamed.images(batch, preprocessing: .tf, augmentation: augmentation, seed: 5, view: 2).data,
                           held.images(batch, preprocessing: .tf, augmentation: augmentation, seed: 5, view: 2).data)
        }
        // Held-out IDX images take the training classes' names.
        let heldOut = try XCTUnwrap(ImageFolder.idx(root: idx, prefix: "t10k", size: 40, classes: ["0", "1", "2"], memoryBudget: 0))
        XCTAssertEqual(heldOut.count, 30)
        XCTAssertThrowsError(try ImageFolder.idx(root: idx, prefix: "t10k", size: 40, classes: ["0", "1"])) {
            XCTAssertTrue("\($0)".contains("is not among the training classes"), "\($0)")
        }
    }
}
