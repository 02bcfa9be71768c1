import Core
import Foundation
import Zoo

/// What a fine-tuned checkpoint needs besides its weights to predict on its own: stored as
/// attributes of the Keras full-model HDF5 file.
public struct CheckpointInfo: Codable, Sendable, Equatable {
    public var base: String
    public var classes: [String]
    public var imageSize: Int
    public var preprocessing: String
    public var dropout: Float
    public var hidden: Int?
    public var pooling: String
    public var multiLabel: Bool
    /// Images were center-cropped to a square before resizing (nil in older checkpoints: no).
    public var crop: Bool?
    /// The training flags, for the record.
    public var settings: [String: String]

    /// `preprocessing` defaults to the architecture's (the manifest's); converted weights bring their own.
    public init(base: Architecture, classes: [String], imageSize: Int, head: HeadOptions, crop: Bool = false,
                preprocessing: Preprocessing? = nil, settings: [String: String]) throws {
        self.crop = crop
        self.base = base.rawValue
        self.classes = classes
        self.imageSize = imageSize
        self.preprocessing = try (preprocessing ?? Manifest.shared.model(base).preprocessing).rawValue
        self.dropout = head.dropout
        self.hidden = head.hidden
        self.pooling = head.pooling == .max ? "max" : "avg"
        self.multiLabel = head.multiLabel
        self.settings = settings
    }

    static let attribute = "finetune_checkpoint"
    /// Far more classes than any data set here: ImageNet-21k has 21,841.
    public static let classLimit = 100_000

    public var architecture: Architecture { Architecture(rawValue: base)! }
    public var preprocessingMode: Preprocessing { Preprocessing(rawValue: preprocessing)! }

    public var headOptions: HeadOptions {
        var head = HeadOptions(classes: classes.count)
        head.dropout = dropout
        head.hidden = hidden
        head.pooling = pooling == "max" ? .max : .average
        head.multiLabel = multiLabel
        return head
    }
}

public enum Checkpoint {
    /// Writes the model (Keras full-model layout) with `info` as attributes, atomically.
    public static func save(_ model: Model, info: CheckpointInfo, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(info), as: UTF8.self)
        try KerasModelFile.save(model, to: path, attributes: [
            CheckpointInfo.attribute: json,
            "finetune_classes": String(decoding: try encoder.encode(info.classes), as: UTF8.self),
        ])
    }

    /// What a checkpoint holds, in a line, or nil for a file that is not one (a plain weights file).
    public static func describe(_ path: String) throws -> String? {
        guard try KerasModelFile.attribute(CheckpointInfo.attribute, in: path) != nil else { return nil }
        let (model, info) = try load(path)
        let classes = info.classes.count <= 5 ? info.classes.joined(separator: ", ") : "\(info.classes.prefix(5).joined(separator: ", ")), …"
        return "\(info.base) at \(info.imageSize)x\(info.imageSize), \(info.classes.count) \(info.multiLabel ? "labels" : "classes") (\(classes)), "
            + "\(info.preprocessing) preprocessing, \(model.weightedLayers.count) layers with weights, all loaded"
    }

    /// Rebuilds a checkpoint's model and loads its weights.
    public static func load(_ path: String) throws -> (model: Model, info: CheckpointInfo) {
        guard let json = try KerasModelFile.attribute(CheckpointInfo.attribute, in: path) else {
            throw WeightsFileError("\(path) is not a finetune checkpoint (no \(CheckpointInfo.attribute) attribute); pass a best.h5 or last.h5 from a training run")
        }
        let info: CheckpointInfo
        do {
            info = try JSONDecoder().decode(CheckpointInfo.self, from: Data(json.utf8))
        } catch {
            throw WeightsFileError("\(path): its \(CheckpointInfo.attribute) record is damaged (\(DecodingProblem(error))); it cannot be used")
        }
        guard Architecture(rawValue: info.base) != nil, Preprocessing(rawValue: info.preprocessing) != nil else {
            throw WeightsFileError("\(path) names an unknown base '\(info.base)' or preprocessing '\(info.preprocessing)'")
        }
        guard !info.classes.isEmpty, info.classes.count <= CheckpointInfo.classLimit else {
            throw WeightsFileError("\(path) records \(info.classes.count) classes; the file is damaged")
        }
        let model: Model
        do {
            let base = try info.architecture.build(ModelOptions(inputHeight: info.imageSize, inputWidth: info.imageSize))
            model = try Head.attach(to: base, info.headOptions)
        } catch {
            throw WeightsFileError("\(path) describes a model that cannot be built (the file is damaged?): \(error)")
        }
        try Weights.load(into: model, from: path)
        return (model, info)
    }
}

/// A JSON decoding failure in a few words (which field, what is wrong), not Foundation's dump.
struct DecodingProblem: CustomStringConvertible {
    let description: String

    init(_ error: Error) {
        func place(_ path: [CodingKey]) -> String {
            path.isEmpty ? "the record" : "'" + path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") + "'"
        }
        switch error as? DecodingError {
        case .keyNotFound(let key, let context)?: description = "\(place(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context)?, .valueNotFound(_, let context)?: description = "\(place(context.codingPath)) has the wrong type"
        case .dataCorrupted(let context)?: description = "\(place(context.codingPath)) is not valid JSON"
        default: description = "\(error)"
        }
    }
}
