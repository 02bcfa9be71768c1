import Foundation
import TestSupport
import XCTest

/// Runs the real `finetune` binary built next to the test bundle.
enum CLI {
    static let binary = URL(fileURLWithPath: CommandLine.arguments.first { $0.hasSuffix(".xctest") } ?? CommandLine.arguments[0])
        .deletingLastPathComponent().appendingPathComponent("finetune")

    static let fixtures: String = ProcessInfo.processInfo.environment["FINETUNE_FIXTURES"]
        ?? packageRoot.appendingPathComponent("fixtures").path

    @discardableResult
    static func run(_ arguments: [String], environment: [String: String] = [:], in directory: URL = packageRoot) throws -> ProcessResult {
        try execute(binary, arguments, environment: environment, in: directory)
    }
}

extension XCTestCase {
    /// A user mistake: the given exit code, one clear message naming `fragments`, no crash report.
    func assertUserError(_ result: ProcessResult, status: Int32, _ fragments: [String],
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, status, result.stderr, file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(result.stderr.contains(fragment), "stderr lacks '\(fragment)':\n\(result.stderr)", file: file, line: line)
        }
        for crash in ["Fatal error", "Stack dump", "Backtrace", "Current stack trace"] {
            XCTAssertFalse(result.stderr.contains(crash), "crash report in stderr:\n\(result.stderr)", file: file, line: line)
        }
    }
}

extension CLI {
    /// Runs the binary until it prints `marker` on standard output, then sends SIGTERM (as Ctrl-C would) and
    /// waits: the exit status and what it printed.
    static func interrupt(_ arguments: [String], after marker: String, in directory: URL = packageRoot) throws -> (status: Int32, stdout: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var printed = ""
        while !printed.contains(marker) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGTERM)
        printed += String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, printed)
    }
}

extension CLI {
    /// Fashion-MNIST test images of classes 0 and 1 as class folders of PNGs in `directory/name`.
    static func fashionMNISTFolders(in directory: URL, name: String = "data", perClass: Int = 10) throws -> String {
        let data = directory.appendingPathComponent(name).path
        let converted = try run(["data", "convert-idx", "--images", "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                 "--labels", "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", "--classes", "0,1",
                                 "--per-class", "\(perClass)", "--output", data])
        XCTAssertEqual(converted.status, 0, converted.stderr)
        return data
    }
}
