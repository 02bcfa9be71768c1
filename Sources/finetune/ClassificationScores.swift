import Core
import Foundation
import Zoo
import ZooIO

/// Accuracy, per-class precision / recall / F1, their averages and the confusion matrix.
struct ClassificationScores: Codable {
    struct PerClass: Codable {
        let name: String
        let precision: Double
        let recall: Double
        let f1: Double
        let support: Int
    }

    let accuracy: Double
    let classes: [PerClass]
    let macroF1: Double
    let weightedF1: Double
    /// Rows: true class; columns: predicted class.
    let confusion: [[Int]]
    let images: Int
    let skipped: [ImageFolder.Skipped]

    init(truth: [Int], predicted: [Int], names: [String], skipped: [ImageFolder.Skipped] = []) {
        let k = names.count
        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for (t, p) in zip(truth, predicted) { confusion[t][p] += 1 }
        let total = truth.count
        classes = (0..<k).map { i -> PerClass in
            let predicted = (0..<k).reduce(0) { $0 + confusion[$1][i] }
            let actual = confusion[i].reduce(0, +)
            let precision = predicted > 0 ? Double(confusion[i][i]) / Double(predicted) : 0
            let recall = actual > 0 ? Double(confusion[i][i]) / Double(actual) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return PerClass(name: names[i], precision: precision, recall: recall, f1: f1, support: actual)
        }
        accuracy = Double((0..<k).reduce(0) { $0 + confusion[$1][$1] }) / Double(max(total, 1))
        macroF1 = classes.reduce(0) { $0 + $1.f1 } / Double(k)
        weightedF1 = classes.reduce(0) { $0 + $1.f1 * Double($1.support) } / Double(max(total, 1))
        self.confusion = confusion
        images = total
        self.skipped = skipped
    }
}

/// The top class and its probability for folder images, in batches of 32.
func predictClasses(_ model: Model, folder: ImageFolder, indices: [Int], preprocessing: Preprocessing) throws
    -> [(label: Int, probability: Float)] {
    var result: [(label: Int, probability: Float)] = []
    for start in stride(from: 0, to: indices.count, by: 32) {
        let chunk = Array(indices[start..<min(start + 32, indices.count)])
        let probabilities = try model.predict(folder.images(chunk, preprocessing: preprocessing))
        let k = probabilities.count / max(chunk.count, 1)
        for row in chunk.indices {
            let p = probabilities.data[(row * k)..<((row + 1) * k)]
            let best = p.firstIndex(of: p.max()!)!
            result.append((best - row * k, p[best]))
        }
    }
    return result
}


