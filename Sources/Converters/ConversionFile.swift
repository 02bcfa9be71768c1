import Core
import Foundation
import KerasFiles
import Zoo

/// Converted weights as files: read a foreign file, convert it, write Keras' legacy HDF5 layout with the
/// preprocessing the weights expect recorded beside them.
public enum ConvertedWeights {
    /// The root attribute naming the preprocessing the weights expect (`torch`, `tf`, `caffe`).
    public static let preprocessingAttribute = "finetune_preprocessing"
    /// The root attribute naming the mapping and source file the weights came from.
    public static let originAttribute = "finetune_converted_from"

    /// What a conversion did, for the command's one line.
    public struct Summary: Sendable {
        public let format: String
        public let mapping: String
        public let layers: Int
        public let tensors: Int
        public let dropped: Int
        public let preprocessing: Preprocessing
    }

    /// Reads `source` (a PyTorch checkpoint, safetensors file, `.keras` archive or Keras 3 `.weights.h5`),
    /// converts it into `base` and writes `output`. `family` (`torchvision`, `timm`, `keras`) is needed only
    /// where the file does not tell. Nothing is written unless everything converted.
    @discardableResult
    public static func convert(_ source: String, base: Architecture, family: String?, includeTop: Bool,
                               to output: String) throws -> Summary {
        try DurableFile.checkWritable(output)
        let size = try Manifest.shared.model(base).defaultInputSize
        // A bare .weights.h5 names its layers only through the model it was saved from.
        let naming = try base.build(ModelOptions(includeTop: includeTop, classes: 1, inputHeight: size, inputWidth: size))
        let file = try ForeignWeights.read(path: source, model: naming)
        let isKeras = file.format == .keras || file.format == .kerasWeights
        if let family, (family == "keras") != isKeras {
            throw WeightsFileError("\(source) is a \(file.format.rawValue), not \(family == "keras" ? "a Keras file" : "\(family) weights")", kind: .otherFramework)
        }
        // Keras files go through the Keras mapping; PyTorch's and safetensors' through the others.
        let mappings = Mapping.all.filter { $0.families.contains("keras") == isKeras }
        let conversion = try Conversion(file.weights, into: base, family: family, includeTop: includeTop, mappings: mappings)
        let origin = "\((source as NSString).lastPathComponent) (\(file.format.rawValue), mapping \(conversion.mapping.name))"
        try Weights.saveLegacy(conversion.model, to: output, attributes: [
            preprocessingAttribute: conversion.preprocessing.rawValue,
            originAttribute: origin,
        ])
        return Summary(format: file.format.rawValue, mapping: conversion.mapping.name, layers: conversion.model.weightedLayers.count,
                       tensors: file.weights.names.count, dropped: conversion.dropped.count, preprocessing: conversion.preprocessing)
    }

    /// The preprocessing a weights file records (converted files do), or nil for a file that records none
    /// (Keras' own files, which expect their architecture's).
    public static func recordedPreprocessing(_ path: String) throws -> Preprocessing? {
        guard let recorded = try KerasModelFile.attribute(preprocessingAttribute, in: path) else { return nil }
        guard let mode = Preprocessing(rawValue: recorded) else {
            throw WeightsFileError("\(path) records an unknown preprocessing '\(recorded)'; the file is damaged")
        }
        return mode
    }

    /// The preprocessing for a base with `weights` ('imagenet', 'none' or a file): what the file records,
    /// else what the manifest says for the architecture.
    public static func preprocessing(forWeights weights: String, base: Architecture) throws -> Preprocessing {
        let manifest = try Manifest.shared.model(base).preprocessing
        guard weights != "imagenet", weights != "none" else { return manifest }
        return try recordedPreprocessing(weights) ?? manifest
    }
}

extension WeightCache {
    /// The verified published weights of `architecture`, from the cache or downloaded; a file in another
    /// framework's layout (torchvision's ResNet50) is converted into the cache once and used from there.
    public func fetchConverted(_ architecture: Architecture, includeTop: Bool, progress: (String) -> Void = { _ in }) throws -> URL {
        try fetchConverted(try Manifest.shared.model(architecture).weightFile(includeTop: includeTop), for: architecture,
                           includeTop: includeTop, progress: progress)
    }

    /// Where the conversion of `file` into `architecture` is cached.
    public func convertedPath(_ file: Manifest.WeightFile, for architecture: Architecture, includeTop: Bool) -> URL {
        let stem = (file.fileName as NSString).deletingPathExtension
        return directory.appendingPathComponent("\(architecture.rawValue)_from_\(stem)_\(includeTop ? "top" : "notop").h5")
    }

    /// `file` for `architecture`, converted when it names a converter family; `base` overrides where it comes from.
    public func fetchConverted(_ file: Manifest.WeightFile, for architecture: Architecture, includeTop: Bool,
                               from base: String? = nil, progress: (String) -> Void = { _ in }) throws -> URL {
        guard let family = file.convertFrom else { return try fetch(file, from: base, progress: progress) }
        let converted = convertedPath(file, for: architecture, includeTop: includeTop)
        // Written by the atomic rename that ends a conversion: present means complete.
        if FileManager.default.fileExists(atPath: converted.path) {
            progress("\(converted.path) is cached (converted from \(file.fileName))")
            return converted
        }
        let source = try fetch(file, from: base, progress: progress)
        progress("converting \(source.lastPathComponent) (\(family)) into \(architecture.rawValue)")
        try ConvertedWeights.convert(source.path, base: architecture, family: family, includeTop: includeTop, to: converted.path)
        progress("saved \(converted.path)")
        return converted
    }
}
