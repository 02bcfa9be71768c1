import ArgumentParser
import Converters
import Core
import FineTune
import Foundation
import ImageData
import KerasFiles
import Zoo

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Run a zoo model on a batch: feature maps, pooled features or class probabilities.",
        discussion: """
        The input is either a float32 NHWC .npy batch, already preprocessed for the model, or \
        --images: JPEG/PNG files or folders, decoded, resized to the input size and preprocessed as the \
        weights record (converted weights) or the zoo manifest says (their paths are written, in row order, to OUTPUT.txt). The output is float32 .npy.
        Examples:
          finetune embed --base resnet50 --weights resnet50_notop.h5 --pooling avg \\
              --input x.npy --output features.npy
          finetune embed --base xception --weights xception.h5 --include-top \\
              --input x.npy --output probs.npy
          finetune embed --base resnet50 --weights resnet50_notop.h5 --pooling avg \\
              --images photos/ --output features.npy
        """)

    @OptionGroup var model: ModelArguments

    @Option(name: .long, help: "Float32 NHWC input batch (.npy), preprocessed as the model expects.")
    var input: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Image files or folders instead of --input.")
    var images: [String] = []

    @Option(name: .long, help: "Where to write the output (.npy).")
    var output: String

    @Option(name: .long, parsing: .unconditional, help: "Images per forward pass.")
    var batchSize: Int = 16

    @OptionGroup var precision: PrecisionOptions

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if (input == nil) == images.isEmpty { throw ValidationError("pass either --input X.npy or --images PATH...") }
    }

    func run() throws {
        announce(precision.precision)
        try DurableFile.checkWritable(output)
        let x = try inputBatch()
        let net = try model.makeModel(height: x.shape[1], width: x.shape[2])
        try net.checkMemory(batch: batchSize, training: false, inputDescription: "\(x.shape[1])x\(x.shape[2])")
        let y = try Predictor(net, batchSize: batchSize).outputs(x)
        try NPY.write(y, to: output)
        log("wrote \(output): \(y.shape.map(String.init).joined(separator: "x"))")
    }

    private func inputBatch() throws -> Tensor {
        if let input {
            let x = try NPY.read(input)
            guard x.shape.count == 4, x.shape[3] == 3, x.shape.allSatisfy({ $0 > 0 }) else {
                throw CommandError("\(input) has shape \(x.shape); expected N x height x width x 3 (NHWC, RGB) with at least one image")
            }
            return x
        }
        let files = try imageFiles(images)
        let spec = try model.spec
        let size = model.imageSize ?? spec.defaultInputSize
        let preprocessing = try ConvertedWeights.preprocessing(forWeights: model.weights, base: model.base)
        let batch = readableImageBatch(files, height: size, width: size, preprocessing: preprocessing)
        if !batch.skipped.isEmpty {
            log("skipped \(counted(batch.skipped.count, "file")) that cannot be used (\(output).txt lists the files the rows are for):")
            for skip in batch.skipped { log("  \(skip.path): \(skip.reason)") }
        }
        guard !batch.read.isEmpty else { throw CommandError("none of the \(counted(files.count, "file")) given can be read as an image") }
        try DurableFile.write(batch.read.joined(separator: "\n") + "\n", to: URL(fileURLWithPath: output + ".txt"))
        return batch.images
    }
}
