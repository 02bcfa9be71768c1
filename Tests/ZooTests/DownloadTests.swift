import Foundation
import KerasFiles
import TestSupport
import XCTest
import Zoo

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

    /// Untrusted servers: an unsafe redirect, an endless body or a stalled transfer is a clear error and
    /// leaves nothing in the cache, not even a partial file; a redirect within http is followed.
    func testHostileServersLeaveNothingBehind() throws {
        let served = try temporaryDirectory("hostile-served")
        let cache = try temporaryDirectory("hostile-cache")
        defer {
            try? FileManager.default.removeItem(at: served)
            try? FileManager.default.removeItem(at: cache)
        }
        let payload = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try payload.write(to: served.appendingPathComponent("weights.h5"))
        try payload.write(to: served.appendingPathComponent("other.h5"))
        let digest = try md5(of: served.appendingPathComponent("weights.h5"))
        let store = WeightCache(directory: cache, stallTimeout: 1, largestDownload: 1 << 20)

        try withLoopbackServer(serving: served) { base in
            for (kind, message) in [("redirect-ftp", "redirects to ftp://"), ("endless", "sent more than 1048576 bytes"),
                                    ("stalled", "sent no data for 1 s")] {
                XCTAssertThrowsError(try store.fetch(.init(path: "\(kind)/weights.h5", md5: digest), from: base), kind) {
                    XCTAssertTrue("\($0)".contains(message), "\(kind): \($0)")
                }
                XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.path), [], kind)
            }
            let path = try store.fetch(.init(path: "redirect/weights.h5", md5: digest), from: base)
            XCTAssertEqual(try Data(contentsOf: path), payload)
        }
        // An announced length beyond the limit is refused before the body is read.
        let small = WeightCache(directory: cache, largestDownload: 1000)
        try withLoopbackServer(serving: served) { base in
            XCTAssertThrowsError(try small.fetch(.init(path: "good/other.h5", md5: digest), from: base)) {
                XCTAssertTrue("\($0)".contains("announces 300000 bytes"), "\($0)")
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache.path), ["weights.h5"])
    }

    /// From https a redirect must stay on https; from an http mirror it may go to http or https; never elsewhere.
    func testRedirectsNeverLowerProtection() {
        let https = URL(string: "https://storage.googleapis.com/a.h5")!, http = URL(string: "http://127.0.0.1:8000/a.h5")!
        XCTAssertTrue(WeightCache.allowsRedirect(from: https, to: URL(string: "https://mirror.example/a.h5")!))
        XCTAssertFalse(WeightCache.allowsRedirect(from: https, to: URL(string: "http://mirror.example/a.h5")!))
        XCTAssertTrue(WeightCache.allowsRedirect(from: http, to: URL(string: "http://127.0.0.1:8001/a.h5")!))
        XCTAssertTrue(WeightCache.allowsRedirect(from: http, to: https))
        XCTAssertFalse(WeightCache.allowsRedirect(from: http, to: URL(string: "file:///etc/passwd")!))
        XCTAssertFalse(WeightCache.allowsRedirect(from: https, to: URL(string: "ftp://mirror.example/a.h5")!))
    }
}
