import Foundation
import TestSupport
import XCTest
import Zoo
import ZooIO

/// Downloads against a loopback server: a good file lands verified in the cache, a wrong hash or a
/// short transfer leaves nothing behind, and a corrupted cached file is fetched again.
final class DownloadTests: XCTestCase {
    func testFetchVerifiesAndNeverLeavesHalfFiles() throws {
        let served = FileManager.default.temporaryDirectory.appendingPathComponent("served-\(getpid())")
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(getpid())")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(at: served)
            try? FileManager.default.removeItem(at: cache)
        }
        let payload = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        try payload.write(to: served.appendingPathComponent("weights.h5"))
        let digest = try md5(of: served.appendingPathComponent("weights.h5"))
        let store = WeightCache(directory: cache)

        try withLoopbackServer(serving: served) { base in
            // A short transfer: nothing cached.
            XCTAssertThrowsError(try store.fetch(.init(path: "truncated/weights.h5", md5: digest), from: base))
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.path), [])

            // A wrong hash: nothing cached, the error says both hashes.
            XCTAssertThrowsError(try store.fetch(.init(path: "good/weights.h5", md5: String(repeating: "0", count: 32)), from: base)) {
                XCTAssertTrue("\($0)".contains(digest), "\($0)")
            }
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.path), [])

            // A good file: cached, verified; then served from the cache; a damaged copy is replaced.
            let file = Manifest.WeightFile(path: "good/weights.h5", md5: digest)
            let path = try store.fetch(file, from: base)
            XCTAssertEqual(try Data(contentsOf: path), payload)
            var messages: [String] = []
            _ = try store.fetch(file, from: "http://127.0.0.1:1/") { messages.append($0) }
            XCTAssertTrue(messages.contains { $0.contains("cached and verified") }, "\(messages)")
            try Data("damaged".utf8).write(to: path)
            _ = try store.fetch(file, from: base)
            XCTAssertEqual(try Data(contentsOf: path), payload)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.path), ["weights.h5"])
        }
    }
}
