import Converters
import Foundation
import TestSupport
import XCTest

/// Files made to run code, exhaust memory or be misread (Tests/fixtures/make_foreign_files.py): each is
/// refused with one error naming the file and the problem, and the malicious pickles never run.
final class ReaderTestsHostile: XCTestCase {
    private var hostile: URL { ReaderTests.directory.appendingPathComponent("hostile") }

    func testEveryHostileFileIsRefusedWithItsReason() throws {
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: hostile.appendingPathComponent("expected.json"))) as? [String: String])
        XCTAssertEqual(expected.count, 29)
        for (name, fragment) in expected.sorted(by: <) {
            let path = hostile.appendingPathComponent(name).path
            XCTAssertThrowsError(try ForeignWeights.read(path: path), name) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(path), "\(name): \(message)")
                XCTAssertTrue(message.contains(fragment), "\(name) should be refused for '\(fragment)': \(message)")
                XCTAssertFalse(message.contains("\n"), "\(name): one line, not \(message)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: hostile.appendingPathComponent("marker").path),
                       "a malicious pickle ran its command")
    }

    /// The refused pickle says which global it met and that nothing ran.
    func testMaliciousPickleNamesTheGlobalAndRunsNothing() throws {
        let path = hostile.appendingPathComponent("reduce-system.pth").path
        XCTAssertThrowsError(try ForeignWeights.read(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path):state_dict/data.pkl: the pickle names the global 'posix.system', which a state dict never needs; refused, nothing was run")
        }
    }
}
