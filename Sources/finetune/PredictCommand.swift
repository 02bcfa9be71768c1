import ArgumentParser
import Core
import Foundation
import Zoo
import ZooIO

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict the classes of images with a checkpoint alone; writes CSV.",
        discussion: """
        PATH may also be a test folder in the CSV layout (a CSV of file names and an images/ folder): its \
        files are predicted in the CSV's order. CSV columns: file, class (multi-label models: every class \
        at probability 0.5 or more, separated by ';'), probability, top_k (CLASS:PROBABILITY pairs separated by ';').
        Examples:
          finetune predict --model runs/latest/best.h5 photo.jpg more-photos/
          finetune predict --model runs/latest/best.h5 test/ --top-k 3 \\
              --output predictions.csv
        """)

    @Option(name: .long, help: "A checkpoint (best.h5 or last.h5 of a training run).")
    var model: String

    @Argument(help: "Image files or folders of images.")
    var paths: [String]

    @Option(name: .long, parsing: .unconditional, help: "How many classes to list per image.")
    var topK: Int = 3

    @Flag(name: .long, help: mirrorAveragingHelp)
    var tta = false

    @Option(name: .long, help: "CSV file to write (default: standard output).")
    var output: String?

    func validate() throws {
        if topK < 1 { throw ValidationError("--top-k must be at least 1") }
        if paths.isEmpty { throw ValidationError("pass image files or folders to predict") }
    }

    func run() throws {
        if let output { try DurableFile.checkWritable(output) }
        let (net, info) = try Checkpoint.load(model)
        try net.checkMemory(batch: 32, training: false, inputDescription: "\(info.imageSize)x\(info.imageSize)")
        var csv = "file,class,probability,top_k\n"
        var written = 0
        for path in paths {
            var isDirectory: ObjCBool = false
            let csvLayout = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
                && FileManager.default.fileExists(atPath: "\(path)/images")
                && ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).contains { $0.lowercased().hasSuffix(".csv") }
            if csvLayout {
                // A test set in the CSV layout: predict the files its CSV lists, in its order.
                let folder = try ImageFolder(root: path, size: info.imageSize, classes: info.classes, cropToSquare: info.crop ?? false)
                for skip in folder.skipped { log("skipped \(skip.path): \(skip.reason)") }
                for start in stride(from: 0, to: folder.count, by: 32) {
                    let indices = Array(start..<min(start + 32, folder.count))
                    let probabilities = try predictProbabilities(net, folder.images(indices, preprocessing: info.preprocessingMode),
                                                                 mirrorAveraged: tta)
                    csv += rows(indices.map { (folder.files[$0] as NSString).lastPathComponent }, probabilities, info)
                    written += indices.count
                }
            } else {
                let files = try imageFiles([path])
                for start in stride(from: 0, to: files.count, by: 32) {
                    let chunk = Array(files[start..<min(start + 32, files.count)])
                    let x = try imageBatch(chunk, height: info.imageSize, width: info.imageSize, preprocessing: info.preprocessingMode,
                                           cropToSquare: info.crop ?? false)
                    csv += rows(chunk, try predictProbabilities(net, x, mirrorAveraged: tta), info)
                    written += chunk.count
                }
            }
        }
        if let output {
            try DurableFile.write(csv, to: URL(fileURLWithPath: output))
            log("wrote \(written) predictions to \(output)")
        } else {
            print(csv, terminator: "")
        }
    }

    /// CSV rows: the top class (multi-label: every class at 0.5 or more, `;`-separated), its probability, the top k.
    private func rows(_ names: [String], _ probabilities: Tensor, _ info: CheckpointInfo) -> String {
        let k = info.classes.count
        var text = ""
        for (row, name) in names.enumerated() {
            let p = Array(probabilities.data[(row * k)..<((row + 1) * k)])
            let ranked = p.indices.sorted { p[$0] > p[$1] }
            let top = ranked.prefix(topK).map { "\(info.classes[$0]):\(String(format: "%.4f", p[$0]))" }.joined(separator: ";")
            let label = info.multiLabel ? p.indices.filter { p[$0] >= 0.5 }.map { info.classes[$0] }.joined(separator: ";")
                : info.classes[ranked[0]]
            text += "\(csvField(name)),\(csvField(label)),\(String(format: "%.6f", p[ranked[0]])),\(csvField(top))\n"
        }
        return text
    }
}

/// A CSV field, quoted when it holds a comma, quote or newline.
func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
