import Core
import KerasFiles

/// The kinds of weight file from other frameworks that can be read.
public enum ForeignFormat: String, Sendable {
    case pytorch = "PyTorch checkpoint"
    case safetensors = "safetensors file"
    case keras = "Keras 3 .keras archive"
    case kerasWeights = "Keras 3 .weights.h5 file"
}

/// A foreign weights file as read: what it was, its tensors, and what else it says about itself.
public struct ForeignFile: Sendable {
    public let format: ForeignFormat
    public let weights: ForeignWeights
    /// safetensors' `__metadata__`, or a `.keras` archive's `metadata.json` (`keras_version`, …).
    public let metadata: [String: String]
    /// The layers of a `.keras` archive's model, from its config.json; nil for other formats.
    public let kerasLayers: [KerasLayer]?
}

extension ForeignWeights {
    /// Reads `path`, recognising the format by content, not by name: a zip holding `data.pkl` is a PyTorch
    /// checkpoint, one holding `config.json` a `.keras` archive, an 8-byte length then `{` safetensors,
    /// and an HDF5 file with a `layers` group Keras 3 weights, named after `model`'s layers (a bare
    /// weights file does not name its layers; the zoo model it was saved from does).
    public static func read(path: String, model: Model? = nil) throws -> ForeignFile {
        let file = try ReadOnlyFile(path)
        let start = try file.read(at: 0, count: min(file.size, 9), what: "its first bytes")
        if start.starts(with: [0x50, 0x4b]) {
            let archive = try ZipArchive(path)
            if archive.entries.contains(where: { $0.name.hasSuffix("data.pkl") }) {
                return ForeignFile(format: .pytorch, weights: try PyTorchCheckpoint.read(archive), metadata: [:], kerasLayers: nil)
            }
            if archive["config.json"] != nil {
                return try Keras3Archive.read(archive)
            }
            throw WeightsFileError("\(path) is a zip archive but neither a PyTorch checkpoint (no data.pkl) nor a .keras archive (no config.json)")
        }
        if start.count == 9, start[8] == UInt8(ascii: "{") {
            let (weights, metadata) = try SafeTensors.read(path)
            return ForeignFile(format: .safetensors, weights: weights, metadata: metadata, kerasLayers: nil)
        }
        if start.starts(with: [0x89, 0x48, 0x44, 0x46]) {
            guard let model else {
                throw WeightsFileError("\(path) is an HDF5 file; a Keras 3 .weights.h5 file is read for a zoo model, so name the architecture it was saved from")
            }
            return ForeignFile(format: .kerasWeights, weights: try Keras3Archive.readWeights(path, model: model), metadata: [:], kerasLayers: nil)
        }
        if start.starts(with: [0x80]) {
            throw WeightsFileError("\(path) is a bare pickle (torch.save before PyTorch 1.6, or _use_new_zipfile_serialization=False); re-save it with torch.save in a current PyTorch")
        }
        throw WeightsFileError("\(path) is not a PyTorch checkpoint, safetensors file or Keras 3 file")
    }
}
