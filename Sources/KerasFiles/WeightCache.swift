import Core
import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Zoo

/// Downloads published weight files into a cache folder and verifies them against the manifest's hashes.
public struct WeightCache: Sendable {
    public let directory: URL

    /// `$FINETUNE_CACHE`, else `$XDG_CACHE_HOME/finetune/models`, else `~/.cache/finetune/models`.
    public static var defaultDirectory: URL {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["FINETUNE_CACHE"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        let base = env["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return base.appendingPathComponent("finetune/models")
    }

    /// Where a published file comes from: `$FINETUNE_WEIGHTS_BASE` (mirrors, tests), else the file's own
    /// base (PyTorch's site), else the manifest's.
    public static func baseURL(for file: Manifest.WeightFile) -> String {
        ProcessInfo.processInfo.environment["FINETUNE_WEIGHTS_BASE"] ?? file.base ?? Manifest.shared.weightsBase
    }

    /// Seconds a download may go without receiving data before it is given up.
    public let stallTimeout: TimeInterval
    /// The most bytes a download may bring: VGG19's 549 MB with-top file is the zoo's largest.
    public let largestDownload: Int

    public init(directory: URL = WeightCache.defaultDirectory, stallTimeout: TimeInterval = 60, largestDownload: Int = 1 << 30) {
        self.directory = directory
        self.stallTimeout = stallTimeout
        self.largestDownload = largestDownload
    }

    public func path(for file: Manifest.WeightFile) -> URL { directory.appendingPathComponent(file.fileName) }

    /// The verified cached file, downloading it first if needed. A cached file that fails
    /// its hash is replaced; a failed download leaves nothing behind.
    public func fetch(_ file: Manifest.WeightFile, from base: String? = nil,
                      progress: (String) -> Void = { _ in }) throws -> URL {
        let target = path(for: file)
        if FileManager.default.fileExists(atPath: target.path) {
            if try file.digest.matches(target) {
                progress("\(target.path) is cached and verified (\(file.digest))")
                return target
            }
            progress("\(target.path) fails its \(file.digest) check; downloading it again")
        }
        let address = (base ?? Self.baseURL(for: file)) + file.path
        guard let url = URL(string: address) else { throw WeightsFileError("bad weights URL \(address)") }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let partial = directory.appendingPathComponent(".\(file.fileName).\(ProcessInfo.processInfo.processIdentifier).part")
        defer { try? FileManager.default.removeItem(at: partial) }
        progress("downloading \(url.absoluteString)")
        try download(url, to: partial, fileName: file.fileName)
        guard try file.digest.matches(partial) else {
            throw WeightsFileError("the download of \(url.absoluteString) has \(try file.digest.actual(partial)), expected \(file.digest); nothing was cached. Try again, or use a verified local file", kind: .unavailable)
        }
        guard rename(partial.path, target.path) == 0 else {
            throw WeightsFileError("cannot move the download into \(target.path): \(String(cString: strerror(errno)))")
        }
        progress("saved \(target.path) (\(file.digest) verified)")
        return target
    }

    /// Streams `url` into `destination`; a refused connection, an HTTP error, an unsafe redirect, a body
    /// beyond `largestDownload`, a stall or a short body is an error.
    private func download(_ url: URL, to destination: URL, fileName: String) throws {
        guard FileManager.default.createFile(atPath: destination.path, contents: nil),
              let file = try? FileHandle(forWritingTo: destination) else {
            throw WeightsFileError("cannot write in \(directory.path); check that the cache folder is writable, or set FINETUNE_CACHE")
        }
        defer { try? file.close() }
        let transfer = Transfer(url: url, file: file, limit: largestDownload)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = stallTimeout
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        let session = URLSession(configuration: configuration, delegate: transfer, delegateQueue: queue)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: url).resume()
        transfer.done.wait()
        guard let error = transfer.error else { return }
        if let modelError = error as? WeightsFileError { throw modelError }
        if (error as? URLError)?.code == .timedOut {
            throw WeightsFileError("\(url.absoluteString) sent no data for \(Int(stallTimeout)) s after \(transfer.received) bytes; nothing was cached, try again later")
        }
        let host = url.host ?? url.absoluteString
        throw WeightsFileError("cannot download \(fileName) from \(host) (\(error.localizedDescription)); this machine may be offline. Download it elsewhere and use that file, or copy it to \(path(forName: fileName).path)", kind: .unavailable)
    }

    /// A redirect may not lower a request's protection: from https only to https; from http (a mirror or
    /// test server named in $FINETUNE_WEIGHTS_BASE) to http or https; never to another scheme.
    public static func allowsRedirect(from source: URL, to target: URL) -> Bool {
        switch (source.scheme?.lowercased(), target.scheme?.lowercased()) {
        case ("https", "https"), ("http", "http"), ("http", "https"): true
        default: false
        }
    }

    private func path(forName name: String) -> URL { directory.appendingPathComponent(name) }
}

/// The hex MD5 of a file, read in chunks (Keras publishes MD5s for its weight files).
public func md5(of url: URL) throws -> String {
    var hasher = Insecure.MD5()
    try digestChunks(of: url) { hasher.update(data: $0) }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}

/// The hex SHA-256 of a file (PyTorch names its files by its first digits).
public func sha256(of url: URL) throws -> String {
    var hasher = SHA256()
    try digestChunks(of: url) { hasher.update(data: $0) }
    return hasher.finalize().map { String(format: "%02x", $0) }.joined()
}

private func digestChunks(of url: URL, _ update: (Data) -> Void) throws {
    guard let handle = try? FileHandle(forReadingFrom: url) else {
        throw WeightsFileError("cannot read \(url.path): the file does not exist or is not readable")
    }
    defer { try? handle.close() }
    while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty { update(chunk) }
}

extension Manifest.Digest {
    /// This kind of digest of `url`, as it would be published ("md5 …", "sha256 …").
    public func actual(_ url: URL) throws -> String {
        switch self {
        case .md5: "md5 \(try KerasFiles.md5(of: url))"
        case .sha256Prefix: "sha256 \(try KerasFiles.sha256(of: url))"
        }
    }

    public func matches(_ url: URL) throws -> Bool {
        switch self {
        case .md5(let hex): try KerasFiles.md5(of: url) == hex
        case .sha256Prefix(let hex): try KerasFiles.sha256(of: url).hasPrefix(hex)
        }
    }
}

/// One transfer's delegate: writes the body to `file` as it arrives and cancels the transfer at the first
/// thing wrong (an unsafe redirect, an HTTP error, more than `limit` bytes), keeping the reason.
/// Its callbacks run one at a time on the session's serial queue; `done` hands the outcome over.
private final class Transfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let url: URL
    let file: FileHandle
    let limit: Int
    let done = DispatchSemaphore(value: 0)
    private(set) var received = 0
    private(set) var error: Error?
    private var expected: Int64 = -1

    init(url: URL, file: FileHandle, limit: Int) {
        self.url = url
        self.file = file
        self.limit = limit
    }

    private func fail(_ task: URLSessionTask, _ message: String) {
        error = error ?? WeightsFileError(message)
        task.cancel()
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        let from = response.url ?? url
        guard let target = request.url, WeightCache.allowsRedirect(from: from, to: target) else {
            // Not followed: the redirect itself arrives as the response, and that cancels the task.
            error = WeightsFileError("\(from.absoluteString) redirects to \(request.url?.absoluteString ?? "nowhere"), which is less safe than \(from.scheme ?? "its own scheme"); the download was refused and nothing was cached")
            completionHandler(nil)
            return
        }
        completionHandler(request)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        expected = response.expectedContentLength
        if error != nil {
            dataTask.cancel()
        } else if let http = response as? HTTPURLResponse, !(200..<300).contains(http.statusCode) {
            fail(dataTask, "\(response.url?.absoluteString ?? url.absoluteString) answered HTTP \(http.statusCode)")
        } else if expected > limit {
            fail(dataTask, "\(url.absoluteString) announces \(expected) bytes, more than the \(limit) any zoo file has; the download was refused and nothing was cached")
        }
        completionHandler(error == nil ? .allow : .cancel)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard error == nil else { return }
        received += data.count
        guard received <= limit else {
            return fail(dataTask, "\(url.absoluteString) sent more than \(limit) bytes, more than any zoo file has; the download was stopped and nothing was cached")
        }
        do {
            try file.write(contentsOf: data)
        } catch {
            fail(dataTask, "cannot write the download of \(url.absoluteString) (\(error.localizedDescription)); is the disk full?")
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if self.error == nil, let error {
            self.error = error
        } else if self.error == nil, expected >= 0, received != expected {
            self.error = WeightsFileError("the download of \(url.absoluteString) stopped after \(received) of \(expected) bytes; nothing was cached, try again")
        }
        done.signal()
    }
}
