import ArgumentParser
import Core
import Export
import FineTune
import KerasFiles

/// A failure in the command's words (exit code 1).
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The library's errors say what is wrong in the library's terms; the command adds the flag that changes
/// it, in this one place.
enum CommandWords {
    static func translate(_ error: Error) -> Error {
        switch error {
        case let error as ConfigurationError: CommandError(text(error))
        case let error as WeightsFileError: CommandError(error.description + hint(error.kind))
        case let error as ExportError:
            if case .preprocessingNotAffine(let mode) = error {
                CommandError("preprocessing mode \(mode) is not a per-channel scale and offset; it cannot go into the ONNX graph (export with --preprocessing exclude)")
            } else {
                error
            }
        case let error as RunDirectoryError: ValidationError(text(error))
        default: error
        }
    }

    private static func text(_ error: ConfigurationError) -> String {
        switch error {
        case .batchSize(let size): "--batch-size must be at least 1, got \(size)"
        case .dropout(let rate): "--dropout must be in [0, 1), got \(rate)"
        case .classes(let count): "--classes must be at least 1, got \(count)"
        case .inputSize: "\(error); pass a larger --image-size"
        case .noPublishedWeights(let model): "\(model) has no published weights; pass --weights none or a weights file"
        }
    }

    private static func hint(_ kind: WeightsFileError.Kind) -> String {
        switch kind {
        case .classifierMismatch(let fileHasClassifier): fileHasClassifier ? " (--include-top)" : " (leave out --include-top)"
        case .unavailable: "; pass a local copy with --weights PATH"
        case .fitsOtherArchitecture(let base): ". Convert it with --base \(base)"
        case .noClassifier: " (--no-top)"
        case .otherFramework: "; leave out --from or pass the right one"
        case .other, .missing, .notHDF5: ""
        }
    }

    private static func text(_ error: RunDirectoryError) -> String {
        switch error {
        case .holdsRun(let path, let interrupted, let files):
            "\(path) holds " + (interrupted ? "an interrupted run (continue it with: finetune train --resume \(path))"
                                            : "an earlier run (\(files.prefix(3).joined(separator: ", ")))")
                + "; choose another folder, or replace that run's files with --overwrite"
        }
    }
}
