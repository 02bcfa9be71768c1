import Foundation
import TestSupport
import XCTest

/// A CSV layout without a single label trains nothing: one clear error, not an index out of range.
final class UnlabelledTrainingTests: XCTestCase {
    func testEveryLabelEmptyIsAUserError() throws {
        let directory = try temporaryDirectory("csv-unlabelled")
        defer { try? FileManager.default.removeItem(at: directory) }
        XCTAssertEqual(try python(["Tests/fixtures/make_folder_dataset.py", directory.path, "3", "5", "9", "--csv", "--unlabelled"]).status, 0)
        assertUserError(try CLI.run(["--base", "resnet50", "--data", directory.path, "--weights", "none", "--image-size", "32",
                                     "--output", directory.appendingPathComponent("run").path]),
                        status: 1, ["no labelled images", "at least two classes"])
    }
}
