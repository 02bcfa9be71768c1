import Core
import Foundation
import XCTest
import Zoo

/// The Keras-generated fixtures (`Tests/fixtures/make_fixtures.py`), found through
/// `FINETUNE_FIXTURES` or `fixtures/` at the package root.
struct KerasCase: Decodable {
    let name: String
    let model: String
    let includeTop: Bool
    let pooling: String
    let classes: Int
    let height: Int
    let width: Int
    let layers: [String]
    /// Keras' own float32 output against the float64 truth, relative to max |truth|.
    let kerasFloat32Error: Double

    /// The 1e-4 of max |Keras|, widened only where Keras' own round-off on this
    /// deep random network is larger than that (then we must be as close to the truth as Keras is).
    var tolerance: Float { Float(max(1e-4, 3 * kerasFloat32Error)) }

    var architecture: Architecture { Architecture(rawValue: model)! }
    var options: ModelOptions {
        ModelOptions(includeTop: includeTop, pooling: ModelOptions.Pooling(rawValue: pooling)!, classes: classes,
                     inputHeight: height, inputWidth: width)
    }

    func file(_ suffix: String) -> String { KerasCase.directory + "/" + name + suffix }

    static let directory: String = ProcessInfo.processInfo.environment["FINETUNE_FIXTURES"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures").path

    static func all() throws -> [KerasCase] {
        try fixtureList("cases.json", script: "make_fixtures.py")
    }
}

/// A fixture list (snake_case JSON) from the fixtures folder; fails the test, naming the script to run, when absent.
func fixtureList<T: Decodable>(_ file: String, script: String) throws -> [T] {
    let path = KerasCase.directory + "/" + file
    guard let data = FileManager.default.contents(atPath: path) else {
        XCTFail("Keras fixtures missing at \(path): run `python3 Tests/fixtures/\(script) fixtures`")
        return []
    }
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return try decoder.decode([T].self, from: data)
}
