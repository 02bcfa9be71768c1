import Foundation
import ImageData
import TestSupport
import XCTest

/// Image files made to cost gigabytes or minutes, or to decode to wrong pixels without a word (issue 23;
/// Tests/fixtures/make_hostile_images.py): each one ends as an error that names the file and the reason,
/// before any large allocation or long decode.
final class HostileImageTests: XCTestCase {
    private static let directory: URL = {
        let url = try! temporaryDirectory("hostile-images")
        let made = try! python(["Tests/fixtures/make_hostile_images.py", url.path])
        precondition(made.status == 0, made.stderr)
        return url
    }()

    private static var folder: String { directory.appendingPathComponent("hostile/bombs").path }

    /// File name → a fragment of the reason it must be refused with.
    private static func expectedReasons() throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(contentsOf: directory.appendingPathComponent("hostile/expected.json")))
    }

    func testEveryHostileFileIsRefusedWithItsReason() throws {
        let expected = try Self.expectedReasons()
        XCTAssertEqual(expected.count, 12)
        for (name, fragment) in expected.sorted(by: <) {
            let path = "\(Self.folder)/\(name)"
            XCTAssertThrowsError(try ImageDecoder.decode(file: path), name) { error in
                XCTAssertTrue("\(error)".contains(path), "\(error)")
                XCTAssertTrue("\(error)".contains(fragment), "\(name) should be refused for '\(fragment)': \(error)")
            }
        }
    }

    func testInspectListsEveryHostileFileAsBad() throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments.first { $0.hasSuffix(".xctest") } ?? CommandLine.arguments[0])
            .deletingLastPathComponent().appendingPathComponent("finetune")
        let inspect = try execute(binary, ["data", "inspect", Self.directory.appendingPathComponent("hostile").path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        let expected = try Self.expectedReasons()
        XCTAssertTrue(inspect.stdout.contains("bad files: \(expected.count)"), inspect.stdout)
        for (name, fragment) in expected {
            let line = inspect.stdout.split(separator: "\n").first { $0.contains("\(name): ") }
            XCTAssertTrue(line?.contains(fragment) == true, "\(name): \(line ?? "not listed")")
        }
    }
}
