import ArgumentParser
import Export
import Foundation

extension ExportFormat: ExpressibleByArgument {}
extension ONNXExportOptions.Layout: ExpressibleByArgument {}

struct ExportCommand: ParsableCommand {
    enum PreprocessingChoice: String, ExpressibleByArgument, CaseIterable { case include, exclude }

    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint for another runtime: ONNX, Keras 3 (.keras), or Keras HDF5.",
        discussion: """
        onnx: the whole network (base, head, softmax or sigmoid) as one ONNX graph, opset 13, with a dynamic \
        batch size. It takes float RGB pixels 0-255 with the model's own preprocessing inside (--preprocessing \
        exclude leaves it out), NHWC by default or NCHW with --layout nchw. Its metadata holds the class names, \
        input size, preprocessing and the checkpoint's SHA-256.
        keras: a Keras 3 archive that keras.saving.load_model opens; it takes preprocessed pixels, as in Keras.
        h5: the Keras full-model HDF5 file a checkpoint is.
        --base-only writes the base without its head in the layout of Keras' published no-top weights \
        (as export-base does), for --weights FILE or model.load_weights in Keras.
        Examples:
          finetune export --model runs/latest/best.h5 --output model.onnx
          finetune export --model runs/latest/best.h5 --format keras \\
              --output model.keras
          finetune export --model runs/latest/best.h5 --base-only \\
              --output base_notop.h5
        """)

    @OptionGroup var checkpoint: CheckpointArgument

    @Option(name: .long, help: "The file to write.")
    var output: String

    @Option(name: .long, help: "onnx, keras or h5 (default: onnx; h5 with --base-only).")
    var format: ExportFormat?

    @Option(name: .long, help: "ONNX input layout: nhwc or nchw (default: nhwc).")
    var layout: ONNXExportOptions.Layout?

    @Option(name: .long, help: "include (default) puts the model's preprocessing into the ONNX graph; exclude leaves it out.")
    var preprocessing: PreprocessingChoice?

    @Flag(name: .long, help: "Write only the base's weights, without the head (Keras HDF5 weights file).")
    var baseOnly = false

    func validate() throws {
        let resolved = format ?? (baseOnly ? .h5 : .onnx)
        if baseOnly && resolved != .h5 { throw ValidationError("--base-only writes Keras HDF5 weights; drop --format \(resolved.rawValue)") }
        if resolved != .onnx && (layout != nil || preprocessing != nil) {
            throw ValidationError("--layout and --preprocessing apply to --format onnx only")
        }
    }

    func run() throws {
        if baseOnly {
            print(try CheckpointExport.exportBase(checkpoint: checkpoint.model, to: output))
        } else {
            print(try CheckpointExport.export(checkpoint: checkpoint.model, format: format ?? .onnx, to: output, layout: layout ?? .nhwc,
                                              includePreprocessing: preprocessing != .exclude))
        }
    }
}

/// The older name of `export --base-only`, kept so documented commands still work.
struct ExportBaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-base",
        abstract: "Write a checkpoint's base (without its head) as a Keras weights file, the layout of the published no-top files.",
        discussion: """
        The same as export --base-only. The file loads with --weights FILE in finetune, and with \
        model.load_weights(FILE) into keras.applications.NAME(include_top=False, weights=None) in Keras: a base \
        pretrained on your data.
        Example:
          finetune export-base --model runs/pretrain/best.h5 \\
            --output resnet50_fmnist_notop.h5
        """)

    @OptionGroup var checkpoint: CheckpointArgument

    @Option(name: .long, help: "Where to write the base's weights (.h5).")
    var output: String

    func run() throws {
        print(try CheckpointExport.exportBase(checkpoint: checkpoint.model, to: output))
    }
}
