import Foundation
import KerasFiles

/// Multi-label scores at `Prediction.multiLabelThreshold`: per-class precision, recall and F1, ROC AUC,
/// exact-match and per-label accuracy.
public struct MultiLabelScores: Codable {
    public let threshold: Float
    public let exactMatch: Double
    public let labelAccuracy: Double
    public let classes: [ClassificationScores.PerClass]
    public let rocAUC: [Double?]
    public let images: Int

    /// `truth`: each image's classes.
    public init(truth: [[Int]], predictions: [Prediction], names: [String]) {
        let truth = truth.map(Set.init), predicted = predictions.map { Set($0.labelsAboveThreshold) }
        // One pass over the images' labels: true positives, predicted and actual counts per class.
        var (hits, predictedCounts, actualCounts) = ([Int](repeating: 0, count: names.count), [Int](repeating: 0, count: names.count),
                                                     [Int](repeating: 0, count: names.count))
        for (actual, guessed) in zip(truth, predicted) {
            for c in actual { actualCounts[c] += 1 }
            for c in guessed {
                predictedCounts[c] += 1
                if actual.contains(c) { hits[c] += 1 }
            }
        }
        classes = names.indices.map { c in
            let precision = predictedCounts[c] > 0 ? Double(hits[c]) / Double(predictedCounts[c]) : 0
            let recall = actualCounts[c] > 0 ? Double(hits[c]) / Double(actualCounts[c]) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return ClassificationScores.PerClass(name: names[c], precision: precision, recall: recall, f1: f1, support: actualCounts[c])
        }
        rocAUC = oneVsRestAUC(truth: truth, predictions: predictions, classes: names.count)
        threshold = Prediction.multiLabelThreshold
        images = truth.count
        exactMatch = Double(zip(truth, predicted).filter { $0 == $1 }.count) / Double(max(images, 1))
        // A label is wrong when it is missed or predicted wrongly: the symmetric difference of the two sets.
        let wrongLabels = zip(truth, predicted).reduce(0) { $0 + $1.0.symmetricDifference($1.1).count }
        labelAccuracy = 1 - Double(wrongLabels) / Double(max(images * names.count, 1))
    }
}

/// Each class's ROC AUC as a two-class problem: the image has it or not (a global function that the
/// `rocAUC` property would hide inside the type).
private func oneVsRestAUC(truth: [Set<Int>], predictions: [Prediction], classes: Int) -> [Double?] {
    (0..<classes).map { c in
        rocAUC(truth: truth.map { $0.contains(c) ? 1 : 0 }, probabilities: predictions.map { [0, $0.probabilities[c]] }, classes: 2)[1]
    }
}
