import Core
import Crypto
import Foundation
import KerasFiles
import Zoo

/// The file formats a fine-tuned checkpoint can be exported to.
public enum ExportFormat: String, CaseIterable, Sendable {
    /// One ONNX graph (opset 13) of the whole network, for ONNX Runtime and the engines it leads to.
    case onnx
    /// Keras 3's native `.keras` archive.
    case keras
    /// The legacy Keras full-model HDF5 file our checkpoints are.
    case h5
}

/// Writes a checkpoint in another format; every output is whole or absent (written beside, then renamed).
public enum CheckpointExport {
    /// Exports the whole network at `checkpoint` to `output`; returns what was written, in a line.
    /// `layout` and `includePreprocessing` only concern ONNX.
    public static func export(checkpoint: String, format: ExportFormat, to output: String,
                              layout: ONNXExportOptions.Layout = .nhwc, includePreprocessing: Bool = true) throws -> String {
        try DurableFile.checkWritable(output)
        let (model, info) = try Checkpoint.load(checkpoint)
        let url = URL(fileURLWithPath: output)
        let what = "\(info.base) at \(info.imageSize)x\(info.imageSize), \(info.classes.count) \(info.multiLabel ? "labels" : "classes")"
        switch format {
        case .onnx:
            let preprocessing = includePreprocessing ? info.preprocessingMode : nil
            let options = ONNXExportOptions(layout: layout, preprocessing: preprocessing)
            let bytes = try ONNXExport.encode(model, options: options, metadata: try metadata(info, options, checkpoint: checkpoint))
            try DurableFile.write(Data(bytes), to: url)
            let input = layout == .nhwc ? "batch x \(info.imageSize) x \(info.imageSize) x 3" : "batch x 3 x \(info.imageSize) x \(info.imageSize)"
            let pixels = includePreprocessing ? "RGB 0-255 (\(info.preprocessing) preprocessing inside)"
                : "\(info.preprocessing)-preprocessed pixels"
            return "wrote \(output): ONNX opset \(ONNXModelFile.opset), \(what); input '\(ONNXExport.inputName)' \(input), \(pixels); output '\(ONNXExport.outputName)'"
        case .keras:
            try DurableFile.write(Data(try KerasArchive.encode(model, output: url)), to: url)
            return "wrote \(output): Keras 3 archive, \(what); it takes \(info.preprocessing)-preprocessed pixels"
        case .h5:
            try Checkpoint.save(model, info: info, to: output)
            return "wrote \(output): Keras full-model HDF5 checkpoint, \(what)"
        }
    }

    /// Writes the checkpoint's base without its head as a Keras weights file in the published no-top layout.
    public static func exportBase(checkpoint: String, to output: String) throws -> String {
        try DurableFile.checkWritable(output)
        let (model, info) = try Checkpoint.load(checkpoint)
        guard let pool = model.nodeIndex(ofLayer: "head_pool") else { throw ExportError("\(checkpoint) has no head to leave out") }
        let base = model.prefix(through: model.nodes[pool].inputs[0])
        try Weights.saveLegacy(base, to: output)
        return "wrote \(output): \(info.base) without top, \(base.weightedLayers.count) layers with weights, input \(info.imageSize)x\(info.imageSize)"
    }

    /// What a deployed model needs to be used right: its classes, input and preprocessing, and where it came from.
    static func metadata(_ info: CheckpointInfo, _ options: ONNXExportOptions, checkpoint: String) throws -> [(String, String)] {
        let classes = String(decoding: try JSONSerialization.data(withJSONObject: info.classes), as: UTF8.self)
        return [
            ("classes", classes),
            ("base", info.base),
            ("input_size", "\(info.imageSize)x\(info.imageSize)"),
            ("layout", options.layout.rawValue),
            ("preprocessing", info.preprocessing),
            ("preprocessing_included", options.preprocessing == nil ? "false" : "true"),
            ("center_crop", (info.crop ?? false) ? "true" : "false"),
            ("output", info.multiLabel ? "sigmoid (multi-label)" : "softmax"),
            ("source_sha256", try sha256(of: checkpoint)),
        ]
    }

    private static func sha256(of path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ExportError("cannot read \(path) to hash it") }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
