import Foundation
import TestSupport
import XCTest
import Zoo

/// The foreign weights `Tests/fixtures/make_converter_fixtures.py` makes with PyTorch, timm and Keras:
/// made once into `$FINETUNE_CONVERTER_FIXTURES`, or a temporary folder named by the script's content
/// (so a changed script makes them again), and shared by every test of the run.
enum ConverterFixtures {
    struct TorchCase: Decodable {
        let name: String
        let family: String
        let base: String
        let classes: Int
        let height: Int
        let width: Int
        let preprocessing: String
        /// The source's own float32 output against float64, relative to max |float64|.
        let float32Error: Double
        var architecture: Architecture { Architecture(rawValue: base)! }

        /// 1e-4 of max |source|, widened only where the source's own round-off on this deep random network
        /// is larger (then we must be as close to the float64 truth as the source is), as in KerasParityTests.
        var tolerance: Float { Float(max(1e-4, 3 * float32Error)) }
    }

    struct KerasCase: Decodable {
        let name: String
        let file: String
        let base: String
        let classes: Int
        let height: Int
        let width: Int
        var architecture: Architecture { Architecture(rawValue: base)! }
    }

    struct Cases: Decodable {
        let torch: [TorchCase]
        let keras: [KerasCase]
    }

    static let script = "Tests/fixtures/make_converter_fixtures.py"

    static let directory: Result<String, Error> = Result {
        let source = try Data(contentsOf: packageRoot.appendingPathComponent(script))
        let folder = ProcessInfo.processInfo.environment["FINETUNE_CONVERTER_FIXTURES"]
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("finetune-converter-fixtures-\(fnv1a(source))").path
        if !FileManager.default.fileExists(atPath: folder + "/complete") {
            let made = try python([script, folder])
            guard made.status == 0 else { throw FixtureError(message: "\(script) failed:\n\(made.stderr)") }
        }
        return folder
    }

    static var cases: Cases {
        get throws {
            let data = try Data(contentsOf: URL(fileURLWithPath: try path("converter_cases.json")))
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(Cases.self, from: data)
        }
    }

    static func path(_ file: String) throws -> String { try directory.get() + "/" + file }

    /// FNV-1a: a stable content hash (Swift's own hashes change from run to run).
    private static func fnv1a(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }

    struct FixtureError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}

/// The `finetune` binary built beside the test bundle.
enum Finetune {
    static let binary = URL(fileURLWithPath: CommandLine.arguments.first { $0.hasSuffix(".xctest") } ?? CommandLine.arguments[0])
        .deletingLastPathComponent().appendingPathComponent("finetune")

    @discardableResult
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        try execute(binary, arguments, environment: environment)
    }
}
