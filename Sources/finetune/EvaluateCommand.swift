import ArgumentParser
import Core
import FineTune
import Foundation
import ImageData
import KerasFiles
import Zoo

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Score a checkpoint on a folder with one sub-folder per class.",
        discussion: """
        Prints accuracy, per-class precision, recall, F1 and one-vs-rest ROC AUC, their macro and weighted \
        averages, the confusion matrix, the most confused pairs and the images with the highest loss; \
        --json writes the same as JSON.
        Example:
          finetune evaluate --model runs/latest/best.h5 --data flowers-test/ \\
            --json scores.json [--tta]
        """)

    @OptionGroup var checkpoint: CheckpointArgument

    @Option(name: .long, help: "Test data in any layout train reads: class sub-folders (names as in training), the CSV layout, an IDX folder (its t10k-* files) or an .npz archive.")
    var data: String

    @OptionGroup var mirror: MirrorAveragingFlag

    @Option(name: .long, help: "Where to write the scores as JSON.")
    var json: String?

    @OptionGroup var precision: PrecisionOptions

    func run() throws {
        announce(precision.precision)
        if let json { try DurableFile.checkWritable(json) }
        let evaluation = try Evaluation(checkpoint: checkpoint.model, mirrorAveraged: mirror.tta)
        let info = evaluation.info
        try evaluation.model.checkMemory(batch: 32, training: false, inputDescription: "\(info.imageSize)x\(info.imageSize)")
        // An IDX folder's test files (t10k-*): the training files were the run's training and validation set.
        let folder = try ImageFolder.anyLayout(data, size: info.imageSize, classes: info.classes, cropToSquare: info.crop ?? false,
                                               idxPrefix: "t10k")
        for skip in folder.skipped { log("skipped \(skip.path): \(skip.reason)") }
        if info.multiLabel { return try report(evaluation.multiLabelScores(folder)) }
        let scores = try evaluation.scores(folder)
        let k = info.classes.count
        let confusion = scores.confusion
        print(String(format: "accuracy %.4f on %d images", scores.accuracy, scores.images) + (mirror.tta ? ", each averaged with its mirror image" : ""))
        print("class".padding(toLength: 20, withPad: " ", startingAt: 0) + " precision  recall     f1  ROC AUC  support")
        for (c, auc) in zip(scores.classes, scores.rocAUC) {
            let aucText = (auc.map { String(format: "%.4f", $0) } ?? "-").leftPadded(8)
            print(c.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                  + String(format: " %9.4f %7.4f %6.4f ", c.precision, c.recall, c.f1) + aucText + String(format: " %8d", c.support))
        }
        print(String(format: "macro F1 %.4f, weighted F1 %.4f", scores.macroF1, scores.weightedF1)
              + (scores.macroROCAUC.map { String(format: ", macro ROC AUC %.4f", $0) } ?? ""))
        print("confusion (rows: true, columns: predicted):")
        for (i, row) in confusion.enumerated() { print("  \(info.classes[i]): \(row.map(String.init).joined(separator: " "))") }
        var confused: [(truth: Int, predicted: Int, count: Int)] = []
        for t in 0..<k {
            for p in 0..<k where p != t && confusion[t][p] > 0 { confused.append((t, p, confusion[t][p])) }
        }
        for pair in confused.sorted(by: { $0.count > $1.count }).prefix(5) {
            print("  most confused: \(info.classes[pair.truth]) taken for \(info.classes[pair.predicted]) \(pair.count) times")
        }
        print("top losses:")
        for t in scores.topLosses.prefix(5) {
            print("  \(t.file): true \(t.truth), predicted \(t.predicted), p(true) " + String(format: "%.4f", t.probabilityOfTruth))
        }
        if let json { try writeJSON(scores, to: URL(fileURLWithPath: json)) }
    }
}

extension EvaluateCommand {
    /// Per-class precision, recall and F1 at probability 0.5, ROC AUC, exact-match and per-label accuracy.
    func report(_ scores: MultiLabelScores) throws {
        print(String(format: "multi-label: exact match %.4f, per-label accuracy %.4f on %d images (classes predicted at probability %g or more)",
                     scores.exactMatch, scores.labelAccuracy, scores.images, scores.threshold))
        print("class".padding(toLength: 20, withPad: " ", startingAt: 0) + " precision  recall     f1  ROC AUC  support")
        for (c, a) in zip(scores.classes, scores.rocAUC) {
            print(c.name.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: " %9.4f %7.4f %6.4f ", c.precision, c.recall, c.f1)
                  + (a.map { String(format: "%.4f", $0) } ?? "-").leftPadded(8) + String(format: " %8d", c.support))
        }
        if let json { try writeJSON(scores, to: URL(fileURLWithPath: json)) }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
