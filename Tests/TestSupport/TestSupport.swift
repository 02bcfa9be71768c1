import Foundation
import XCTest

/// The package's root folder, for fixture scripts and files.
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// What a child process printed and how it ended.
public struct ProcessResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
}

/// Runs a program (from the package root unless told otherwise) and collects its output.
public func execute(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                    in directory: URL = packageRoot) throws -> ProcessResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.currentDirectoryURL = directory
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Drain stderr concurrently so a chatty child never blocks on a full pipe.
    final class Box: @unchecked Sendable { var data = Data() }
    let errors = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errors.data = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: errors.data, as: UTF8.self))
}

/// Runs `python3 ARGUMENTS` from the package root.
public func python(_ arguments: [String]) throws -> ProcessResult {
    try execute(URL(fileURLWithPath: "/usr/bin/env"), ["python3"] + arguments)
}

/// `Tests/fixtures/serve.py` on 127.0.0.1 for the duration of `body`, which gets its base URL.
public func withLoopbackServer(serving directory: URL, _ body: (String) throws -> Void) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "Tests/fixtures/serve.py", directory.path]
    process.currentDirectoryURL = packageRoot
    let stdin = Pipe(), stdout = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    try process.run()
    defer {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
    }
    var line = Data()
    while let byte = try stdout.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
        line += byte
    }
    let port = try XCTUnwrap(Int(String(decoding: line, as: UTF8.self)), "loopback server port")
    try body("http://127.0.0.1:\(port)/")
}

/// A fresh, empty folder under the system's temporary directory.
public func temporaryDirectory(_ name: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("finetune-\(name)-\(getpid())")
    try? FileManager.default.removeItem(at: url)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
