import Core
import Foundation
import ImageData
import KerasFiles
import Zoo

/// Accuracy, per-class precision / recall / F1, their averages and the confusion matrix.
public struct ClassificationScores: Codable {
    public struct PerClass: Codable {
        public let name: String
        public let precision: Double
        public let recall: Double
        public let f1: Double
        public let support: Int
    }

    public let accuracy: Double
    public let classes: [PerClass]
    public let macroF1: Double
    public let weightedF1: Double
    /// Rows: true class; columns: predicted class.
    public let confusion: [[Int]]
    public let images: Int
    public let skipped: [ImageFolder.Skipped]
    /// One-vs-rest ROC AUC per class and their mean (when probabilities were given).
    public var rocAUC: [Double?] = []
    public var macroROCAUC: Double?
    /// Whether each image's probabilities were averaged with its mirror image's (`--tta`).
    public var mirrorAveraged = false
    /// The images the model is most wrong about: highest loss first.
    public var topLosses: [TopLoss] = []

    public struct TopLoss: Codable {
        public let file: String
        public let truth: String
        public let predicted: String
        public let probabilityOfTruth: Double
        public let loss: Double

        public init(file: String, truth: String, predicted: String, probabilityOfTruth: Double, loss: Double) {
            (self.file, self.truth, self.predicted, self.probabilityOfTruth, self.loss) = (file, truth, predicted, probabilityOfTruth, loss)
        }
    }

    /// Counts in one pass over the images and per-class figures in one pass over the classes (O(n + k),
    /// besides the k×k confusion matrix, which the class limit keeps small).
    public init(truth: [Int], predicted: [Int], names: [String], skipped: [ImageFolder.Skipped] = []) {
        let k = names.count
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        var (actual, predictedCount, hits) = ([Int](repeating: 0, count: k), [Int](repeating: 0, count: k), [Int](repeating: 0, count: k))
        for (t, p) in zip(truth, predicted) {
            confusion[t][p] += 1
            actual[t] += 1
            predictedCount[p] += 1
            if t == p { hits[t] += 1 }
        }
        let total = truth.count
        classes = (0..<k).map { i -> PerClass in
            let precision = predictedCount[i] > 0 ? Double(hits[i]) / Double(predictedCount[i]) : 0
            let recall = actual[i] > 0 ? Double(hits[i]) / Double(actual[i]) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return PerClass(name: names[i], precision: precision, recall: recall, f1: f1, support: actual[i])
        }
        accuracy = Double(hits.reduce(0, +)) / Double(max(total, 1))
        macroF1 = classes.reduce(0) { $0 + $1.f1 } / Double(max(k, 1))
        weightedF1 = classes.reduce(0) { $0 + $1.f1 * Double($1.support) } / Double(max(total, 1))
        self.confusion = confusion
        images = total
        self.skipped = skipped
    }
}

/// One-vs-rest ROC AUC per class (the rank statistic, ties shared); nil for a class with no positives or no negatives.
public func rocAUC(truth: [Int], probabilities: [[Float]], classes: Int) -> [Double?] {
    (0..<classes).map { c in
        let scored = zip(truth, probabilities).map { (score: $1[c], positive: $0 == c) }.sorted { $0.score < $1.score }
        let positives = scored.filter(\.positive).count, negatives = scored.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        var rankSum = 0.0
        var i = 0
        while i < scored.count {
            var j = i
            while j + 1 < scored.count && scored[j + 1].score == scored[i].score { j += 1 }
            let rank = Double(i + j) / 2 + 1
            for k in i...j where scored[k].positive { rankSum += rank }
            i = j + 1
        }
        return (rankSum - Double(positives * (positives + 1)) / 2) / Double(positives * negatives)
    }
}


