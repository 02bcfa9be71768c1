import Core
import Foundation
import KerasFiles

/// Keras 3's native `.keras` file: a zip of `metadata.json`, `config.json` (the functional model with
/// standard layers) and `model.weights.h5` (Keras 3's weights layout), which `keras.saving.load_model` opens.
enum KerasArchive {
    static let kerasVersion = "3.15.1"

    /// The bytes of the archive that will be `output`; its weights file is written beside it for a moment.
    static func encode(_ model: Model, output: URL) throws -> [UInt8] {
        var zip = StoredZip()
        // No date_saved: the same model always gives the same bytes.
        try zip.add("metadata.json", try json(["keras_version": kerasVersion]))
        try zip.add("config.json", try config(model))
        let scratch = output.deletingLastPathComponent()
            .appendingPathComponent(".\(output.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).weights.h5").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        do {
            try Weights.saveKeras3(model, to: scratch)
        } catch {
            throw ExportError("\(output.path): \(error)")
        }
        guard let weights = FileManager.default.contents(atPath: scratch) else {
            throw ExportError("cannot read back the weights written to \(scratch)")
        }
        try zip.add("model.weights.h5", Array(weights))
        return try zip.finished()
    }

    /// The functional config our full-model files carry, with the `module` and `registered_name` that
    /// `.keras` archives give every object so Keras knows where to find its class.
    private static func config(_ model: Model) throws -> [UInt8] {
        guard var root = try JSONSerialization.jsonObject(with: Data(KerasModelFile.modelConfig(model).utf8)) as? [String: Any],
              var config = root["config"] as? [String: Any], let layers = config["layers"] as? [[String: Any]] else {
            throw ExportError("model \(model.name) has no functional config to export")
        }
        config["layers"] = layers.map { layer in
            layer.merging(["module": "keras.layers", "registered_name": NSNull()]) { old, _ in old }
        }
        root["config"] = config
        root["module"] = "keras.src.models.functional"
        root["registered_name"] = "Functional"
        return try json(root)
    }

    private static func json(_ object: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }
}
