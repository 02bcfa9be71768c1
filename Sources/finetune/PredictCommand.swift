import ArgumentParser
import Core
import FineTune
import Foundation
import ImageData
import KerasFiles
import Zoo

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict the classes of images with a checkpoint alone; writes CSV.",
        discussion: """
        PATH may also be a test folder in the CSV layout (a CSV of file names and an images/ folder): its \
        files are predicted in the CSV's order. CSV columns: file, class (the most probable class), probability \
        (its probability), top_k (CLASS:PROBABILITY pairs separated by ';'). A multi-label model's CSV has file, \
        labels (every class at probability 0.5 or more, the most probable first, separated by ';'; empty for none), \
        probabilities (theirs, in the same order), top_k.
        Examples:
          finetune predict --model runs/latest/best.h5 photo.jpg more-photos/
          finetune predict --model runs/latest/best.h5 test/ --top-k 3 \\
              --output predictions.csv
        """)

    @OptionGroup var checkpoint: CheckpointArgument

    @Argument(help: "Image files or folders of images.")
    var paths: [String]

    @Option(name: .long, parsing: .unconditional, help: "How many classes to list per image.")
    var topK: Int = 3

    @OptionGroup var mirror: MirrorAveragingFlag

    @Option(name: .long, help: "CSV file to write (default: standard output).")
    var output: String?

    @OptionGroup var precision: PrecisionOptions

    func validate() throws {
        if topK < 1 { throw ValidationError("--top-k must be at least 1") }
        if paths.isEmpty { throw ValidationError("pass image files or folders to predict") }
    }

    func run() throws {
        announce(precision.precision)
        if let output { try DurableFile.checkWritable(output) }
        let (net, info) = try Checkpoint.load(checkpoint.model)
        try net.checkMemory(batch: 32, training: false, inputDescription: "\(info.imageSize)x\(info.imageSize)")
        let predictor = Predictor(net, mirrorAveraged: mirror.tta)
        let columns = PredictionColumns(multiLabel: info.multiLabel, classes: info.classes, topK: topK)
        var csv = columns.header
        var written = 0
        var skipped: [ImageFolder.Skipped] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            let csvLayout = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
                && FileManager.default.fileExists(atPath: "\(path)/images")
                && ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).contains { $0.lowercased().hasSuffix(".csv") }
            if csvLayout {
                // A test set in the CSV layout: predict the files its CSV lists, in its order.
                let folder = try ImageFolder(root: path, size: info.imageSize, classes: info.classes, cropToSquare: info.crop ?? false)
                skipped += folder.skipped
                _ = try predictor.predict(count: folder.count, images: { folder.images($0, preprocessing: info.preprocessingMode) }, done: { indices, predictions in
                    csv += columns.rows(indices.map { (folder.files[$0] as NSString).lastPathComponent }, predictions)
                    written += indices.count
                })
            } else {
                let files = try imageFiles([path])
                skipped += try predictor.predict(files: files, size: info.imageSize, preprocessing: info.preprocessingMode,
                                                 cropToSquare: info.crop ?? false) { names, predictions in
                    csv += columns.rows(names, predictions)
                    written += names.count
                }
            }
        }
        if !skipped.isEmpty {
            log("skipped \(counted(skipped.count, "file")) that cannot be used:")
            for skip in skipped { log("  \(skip.path): \(skip.reason)") }
        }
        if let output {
            try DurableFile.write(csv, to: URL(fileURLWithPath: output))
            log("wrote \(written) predictions to \(output)")
        } else {
            print(csv, terminator: "")
        }
    }
}

/// The predict CSV: one row per image, its columns named for what they hold. A single-label model's row has
/// the most probable class and its probability; a multi-label model's has every class at the threshold or above
/// and their probabilities. Both end with the top k classes.
struct PredictionColumns {
    let multiLabel: Bool
    let classes: [String]
    let topK: Int

    var header: String { multiLabel ? "file,labels,probabilities,top_k\n" : "file,class,probability,top_k\n" }

    /// Rows for `names` from their predictions.
    func rows(_ names: [String], _ predictions: [Prediction]) -> String {
        var text = ""
        for (name, prediction) in zip(names, predictions) {
            let p = prediction.probabilities
            let ranked = p.indices.sorted { p[$0] > p[$1] }
            let top = ranked.prefix(topK).map { "\(classes[$0]):\(String(format: "%.4f", p[$0]))" }.joined(separator: ";")
            let predicted = multiLabel ? prediction.labelsAboveThreshold : [prediction.label]
            let labels = predicted.map { classes[$0] }.joined(separator: ";")
            let values = predicted.map { String(format: "%.6f", p[$0]) }.joined(separator: ";")
            text += "\(csvField(name)),\(csvField(labels)),\(values),\(csvField(top))\n"
        }
        return text
    }
}

/// A CSV field, quoted when it holds a comma, quote or newline.
func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
