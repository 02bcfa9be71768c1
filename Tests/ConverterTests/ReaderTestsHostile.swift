import Converters
import Foundation
import KerasFiles
import TestSupport
import XCTest

/// Files made to run code, exhaust memory or be misread (Tests/fixtures/make_foreign_files.py): each is
/// refused with one error naming the file and the problem, and the malicious pickles never run.
final class ReaderTestsHostile: XCTestCase {
    private var hostile: URL { ReaderTests.directory.appendingPathComponent("hostile") }

    func testEveryHostileFileIsRefusedWithItsReason() throws {
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: hostile.appendingPathComponent("expected.json"))) as? [String: String])
        XCTAssertEqual(expected.count, 33)
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

/// The archive reader under `.npz` data sets: the damaged archive ZIPFoundation 0.9.20 read for ever.
final class ReaderTestsZip: XCTestCase {
    func testTheArchiveZIPFoundationLoopedOnIsRefused() throws {
        let path = ReaderTests.directory.appendingPathComponent("zipfoundation-hang.npz").path
        let archive = try NPZ(path)
        XCTAssertTrue(archive.names.contains("y"), "\(archive.names)")
        XCTAssertThrowsError(try archive.array("y")) { error in
            XCTAssertEqual("\(error)", "\(path) is too short to hold member 'y.npy' (70 bytes at byte 380 of 380); the file is truncated or damaged")
        }
    }
}
