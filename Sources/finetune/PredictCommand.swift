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
        CSV columns: file, class, probability, top_k (CLASS:PROBABILITY pairs separated by ';').
        Examples:
          finetune predict --model runs/latest/best.h5 photo.jpg more-photos/
          finetune predict --model runs/latest/best.h5 test/ --top-k 3 --output predictions.csv
        """)

    @Option(name: .long, help: "A checkpoint (best.h5 or last.h5 of a training run).")
    var model: String

    @Argument(help: "Image files or folders of images.")
    var paths: [String]

    @Option(name: .long, help: "How many classes to list per image.")
    var topK: Int = 3

    @Option(name: .long, help: "CSV file to write (default: standard output).")
    var output: String?

    func validate() throws {
        if topK < 1 { throw ValidationError("--top-k must be at least 1") }
        if paths.isEmpty { throw ValidationError("pass image files or folders to predict") }
    }

    func run() throws {
        let (net, info) = try Checkpoint.load(model)
        let files = try imageFiles(paths)
        var csv = "file,class,probability,top_k\n"
        for start in stride(from: 0, to: files.count, by: 32) {
            let chunk = Array(files[start..<min(start + 32, files.count)])
            let x = try imageBatch(chunk, height: info.imageSize, width: info.imageSize, preprocessing: info.preprocessingMode)
            let probabilities = try net.predict(x)
            let k = info.classes.count
            for (row, file) in chunk.enumerated() {
                let p = Array(probabilities.data[(row * k)..<((row + 1) * k)])
                let ranked = p.indices.sorted { p[$0] > p[$1] }.prefix(topK)
                let top = ranked.map { "\(info.classes[$0]):\(String(format: "%.4f", p[$0]))" }.joined(separator: ";")
                csv += "\(csvField(file)),\(csvField(info.classes[ranked.first!])),\(String(format: "%.6f", p[ranked.first!])),\(csvField(top))\n"
            }
        }
        if let output {
            try csv.write(toFile: output, atomically: true, encoding: .utf8)
            log("wrote \(files.count) predictions to \(output)")
        } else {
            print(csv, terminator: "")
        }
    }
}

/// A CSV field, quoted when it holds a comma, quote or newline.
func csvField(_ text: String) -> String {
    guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return text }
    return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
