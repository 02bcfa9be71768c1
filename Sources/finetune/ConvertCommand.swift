import ArgumentParser
import Converters
import Core
import Foundation
import Zoo

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert PyTorch (torchvision, timm) or Keras 3 weights into a zoo model's Keras HDF5 file.",
        discussion: """
        Reads a PyTorch checkpoint (torch.save, with a restricted unpickler that runs no code), a .safetensors \
        file, a Keras 3 .keras archive or .weights.h5 file, maps its tensors onto the zoo model's Keras layers \
        with the tables in converters/, and writes Keras' legacy HDF5 layout recording the preprocessing the \
        weights expect (train, embed, predict and evaluate then apply it). Every source tensor must find its \
        place and every weight of the model must be set; otherwise nothing is written.
        Examples:
          finetune convert resnet50-11ad3fa6.pth --base resnet50_v1_5 \\
              --output resnet50_tv2_notop.h5
          finetune convert model.safetensors --base inception_v3 --from timm \\
              --include-top --output inception.h5
          finetune convert my_model.keras --base xception --output xception_notop.h5
        """)

    enum Top: String, EnumerableFlag {
        case includeTop, noTop

        static func help(for value: Top) -> ArgumentHelp? {
            value == .includeTop ? "Keep the classifier (the source must have one)."
                : "Drop the classifier (the default): a base for fine-tuning."
        }
    }

    @Argument(help: "The weights file: .pth/.pt, .safetensors, .keras or .weights.h5.")
    var source: String

    @Option(name: .long, help: "The zoo architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var base: Architecture

    @Option(name: .long, help: ArgumentHelp("Who made the weights, where the file does not say: \(Mapping.families.joined(separator: ", ")).", valueName: "family"))
    var from: String?

    @Flag var top: Top = .noTop

    @Option(name: .long, help: "The HDF5 file to write.")
    var output: String

    func validate() throws {
        if let from, !Mapping.families.contains(from) {
            throw ValidationError("--from takes \(Mapping.families.joined(separator: ", ")); got '\(from)'")
        }
    }

    func run() throws {
        let start = Date()
        let summary = try ConvertedWeights.convert(source, base: base, family: from, includeTop: top == .includeTop, to: output)
        let dropped = summary.dropped == 0 ? "" : ", \(summary.dropped) dropped (the classifier)"
        print("wrote \(output): \(base.rawValue) \(top == .includeTop ? "with" : "without") top from \(summary.format) \(source) "
              + "(mapping \(summary.mapping), \(summary.tensors) tensors into \(summary.layers) layers\(dropped)), "
              + "\(summary.preprocessing.rawValue) preprocessing, in \(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }
}
