import ArgumentParser
import Core
import Foundation
import Zoo
import ZooIO

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score a checkpoint on a folder with one sub-folder per class.",
        discussion: """
        Prints accuracy, per-class precision, recall and F1, their macro and weighted averages, the \
        confusion matrix and the most confused pairs; --json writes the same as JSON.
        Example: finetune evaluate --model runs/latest/best.h5 --data flowers-test/ --json scores.json
        """)

    @Option(name: .long, help: "A checkpoint (best.h5 or last.h5 of a training run).")
    var model: String

    @Option(name: .long, help: "Folder with one sub-folder per class (names as in training).")
    var data: String

    @Option(name: .long, help: "Where to write the scores as JSON.")
    var json: String?

    struct ClassScores: Codable {
        let name: String
        let precision: Double
        let recall: Double
        let f1: Double
        let support: Int
    }

    struct Scores: Codable {
        let accuracy: Double
        let classes: [ClassScores]
        let macroF1: Double
        let weightedF1: Double
        let confusion: [[Int]]
        let images: Int
        let skipped: [ImageFolder.Skipped]
    }

    func run() throws {
        let (net, info) = try Checkpoint.load(model)
        let folder = try ImageFolder(root: data, size: info.imageSize, classes: info.classes)
        for skip in folder.skipped { log("skipped \(skip.path): \(skip.reason)") }
        let k = info.classes.count
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for start in stride(from: 0, to: folder.count, by: 32) {
            let indices = Array(start..<min(start + 32, folder.count))
            let probabilities = try net.predict(folder.images(indices, preprocessing: info.preprocessingMode))
            for (row, index) in indices.enumerated() {
                let p = probabilities.data[(row * k)..<((row + 1) * k)]
                confusion[folder.labels[index]][p.firstIndex(of: p.max()!)! - row * k] += 1
            }
        }
        let scores = score(confusion, names: info.classes, skipped: folder.skipped)
        print(String(format: "accuracy %.4f on %d images", scores.accuracy, scores.images))
        print("class".padding(toLength: 20, withPad: " ", startingAt: 0) + " precision  recall     f1  support")
        for c in scores.classes {
            print(c.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                  + String(format: " %9.4f %7.4f %6.4f %8d", c.precision, c.recall, c.f1, c.support))
        }
        print(String(format: "macro F1 %.4f, weighted F1 %.4f", scores.macroF1, scores.weightedF1))
        print("confusion (rows: true, columns: predicted):")
        for (i, row) in confusion.enumerated() { print("  \(info.classes[i]): \(row.map(String.init).joined(separator: " "))") }
        var confused: [(truth: Int, predicted: Int, count: Int)] = []
        for t in 0..<k {
            for p in 0..<k where p != t && confusion[t][p] > 0 { confused.append((t, p, confusion[t][p])) }
        }
        for pair in confused.sorted(by: { $0.count > $1.count }).prefix(5) {
            print("  most confused: \(info.classes[pair.truth]) taken for \(info.classes[pair.predicted]) \(pair.count) times")
        }
        if let json { try writeJSON(scores, to: URL(fileURLWithPath: json)) }
    }

    private func score(_ confusion: [[Int]], names: [String], skipped: [ImageFolder.Skipped]) -> Scores {
        let k = names.count
        let total = confusion.joined().reduce(0, +)
        let correct = (0..<k).reduce(0) { $0 + confusion[$1][$1] }
        let classes = (0..<k).map { i -> ClassScores in
            let predicted = (0..<k).reduce(0) { $0 + confusion[$1][i] }
            let actual = confusion[i].reduce(0, +)
            let precision = predicted > 0 ? Double(confusion[i][i]) / Double(predicted) : 0
            let recall = actual > 0 ? Double(confusion[i][i]) / Double(actual) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return ClassScores(name: names[i], precision: precision, recall: recall, f1: f1, support: actual)
        }
        let macro = classes.reduce(0) { $0 + $1.f1 } / Double(k)
        let weighted = classes.reduce(0) { $0 + $1.f1 * Double($1.support) } / Double(max(total, 1))
        return Scores(accuracy: Double(correct) / Double(max(total, 1)), classes: classes, macroF1: macro, weightedF1: weighted,
                      confusion: confusion, images: total, skipped: skipped)
    }
}
