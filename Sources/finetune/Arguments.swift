import ArgumentParser
import Converters
import Core
import FineTune
import Foundation
import KerasFiles
import Zoo

extension Architecture: ExpressibleByArgument {}
extension ModelOptions.Pooling: ExpressibleByArgument {}
extension WeightMatching: ExpressibleByArgument {}

/// The checkpoint that `evaluate`, `predict` and `export` read.
struct CheckpointArgument: ParsableArguments {
    @Option(name: .long, help: "A checkpoint (best.h5 or last.h5 of a training run).")
    var model: String
}

/// `--tta` of `evaluate` and `predict`.
struct MirrorAveragingFlag: ParsableArguments {
    @Flag(name: .long, help: "Test-time augmentation: average each image's probabilities with its mirror image's (twice the time; for models trained with --flip).")
    var tta = false
}

/// The model flags shared by the commands that build a zoo model.
struct ModelArguments: ParsableArguments {
    @Option(name: .long, help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var base: Architecture

    @Option(name: .long, help: ArgumentHelp("Weights: an HDF5 file (legacy .h5 or Keras 3 .weights.h5), 'imagenet' (the zoo cache), or 'none'.", valueName: "FILE|imagenet|none"))
    var weights: String = "none"

    @Flag(name: .long, help: "Keep the classifier (the file must have it too).")
    var includeTop = false

    @Option(name: .long, parsing: .unconditional, help: "Classes of the classifier, with --include-top.")
    var classes: Int = 1000

    @Option(name: .long, help: "Global pooling after the features when there is no top: none, avg, max.")
    var pooling: ModelOptions.Pooling = .none

    @Option(name: .long, parsing: .unconditional, help: "Input height and width in pixels (default: the model's own).")
    var imageSize: Int?

    @Option(name: .long, help: "Pair file layers with model layers by 'order' (Keras' default) or 'name'.")
    var match: WeightMatching = .order

    func validate() throws {
        if classes < 1 { throw ValidationError("--classes must be at least 1, got \(classes)") }
        if pooling != .none && includeTop { throw ValidationError("--pooling applies only without --include-top") }
        if classes != 1000 && !includeTop { throw ValidationError("--classes needs --include-top") }
        try validateImageSize(imageSize, base: base)
    }

    var spec: Manifest.Model { get throws { try Manifest.shared.model(base) } }

    /// The model with its weights loaded as asked; reports what was loaded on standard error.
    func makeModel(height: Int? = nil, width: Int? = nil, seed: UInt64 = 0) throws -> Model {
        let size = try imageSize ?? spec.defaultInputSize
        let options = ModelOptions(includeTop: includeTop, pooling: pooling, classes: classes,
                                   inputHeight: height ?? size, inputWidth: width ?? size)
        let model = try base.build(options)
        switch weights {
        case "none":
            log("warning: no --weights given: the model has random weights, so its outputs are not features of anything; pass --weights imagenet or a weights file")
            model.initializeWeights(seed: seed)
        case "imagenet":
            try load(model, from: try WeightCache().fetchConverted(base, includeTop: includeTop, progress: { log($0) }).path)
        default:
            try load(model, from: weights)
        }
        return model
    }

    /// Loads `path`; by name, a file that leaves layers of the model out is refused (Keras would leave them
    /// random in silence).
    private func load(_ model: Model, from path: String) throws {
        let report = try Weights.load(into: model, from: path, matching: match)
        if match == .name, let first = report.missing.first {
            throw CommandError("\(path) has no layer named like \(counted(report.missing.count, "layer")) of the model's (the first: \(first)); "
                             + "--match name needs a file with every layer of the model, or use --match order")
        }
        log(report.summary + " from \(path)")
    }
}

/// `--image-size` between the model's minimum and the largest input any model here takes.
func validateImageSize(_ imageSize: Int?, base: Architecture) throws {
    guard let imageSize else { return }
    let minimum = (try? Manifest.shared.model(base).minimumInputSize) ?? 1
    if imageSize < minimum { throw ValidationError("--image-size \(imageSize) is below \(base.rawValue)'s minimum of \(minimum)") }
    if imageSize > ModelOptions.maximumInputSize {
        throw ValidationError("--image-size \(imageSize) is above the largest input size of \(ModelOptions.maximumInputSize)")
    }
}

/// "1 epoch", "3 epochs".
func counted(_ count: Int, _ noun: String) -> String { "\(count) \(noun)\(count == 1 ? "" : "s")" }

/// Progress and reports go to standard error; standard output carries results.
func log(_ message: String) {
    Console.standardError(message + "\n")
}
