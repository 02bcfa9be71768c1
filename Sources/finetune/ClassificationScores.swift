import ArgumentParser
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
    /// One-vs-rest ROC AUC per class and their mean (when probabilities were given).
    var rocAUC: [Double?] = []
    var macroROCAUC: Double?
    /// Whether each image's probabilities were averaged with its mirror image's (`--tta`).
    var mirrorAveraged = false
    /// The images the model is most wrong about: highest loss first.
    var topLosses: [TopLoss] = []

    struct TopLoss: Codable {
        let file: String
        let truth: String
        let predicted: String
        let probabilityOfTruth: Double
        let loss: Double
    }

    /// Counts in one pass over the images and per-class figures in one pass over the classes (O(n + k),
    /// besides the k×k confusion matrix, which the class limit keeps small).
    init(truth: [Int], predicted: [Int], names: [String], skipped: [ImageFolder.Skipped] = []) {
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

/// A model's class probabilities for one image (finite: `predictProbabilities` refuses others).
struct Prediction {
    let probabilities: [Float]
    var label: Int { probabilities.argmax ?? 0 }
    var probability: Float { probabilities[label] }
}

/// A stop request (Ctrl-C, SIGTERM, SIGHUP) that arrived between prediction batches.
struct PredictionStopped: Error {}

/// Predictions for folder images, in batches of 32; `shouldStop` is asked before each batch.
func predictClasses(_ model: Model, folder: ImageFolder, indices: [Int], preprocessing: Preprocessing,
                    mirrorAveraged: Bool = false, shouldStop: () -> Bool = { false }) throws -> [Prediction] {
    var result: [Prediction] = []
    for start in stride(from: 0, to: indices.count, by: 32) {
        if shouldStop() { throw PredictionStopped() }
        let chunk = Array(indices[start..<min(start + 32, indices.count)])
        let probabilities = try predictProbabilities(model, folder.images(chunk, preprocessing: preprocessing), mirrorAveraged: mirrorAveraged)
        let k = probabilities.count / max(chunk.count, 1)
        for row in chunk.indices { result.append(Prediction(probabilities: Array(probabilities.data[(row * k)..<((row + 1) * k)]))) }
    }
    return result
}

/// `--tta` of `evaluate` and `predict`.
let mirrorAveragingHelp = ArgumentHelp(
    "Test-time augmentation: average each image's probabilities with its mirror image's (twice the time; for models trained with --flip).")

/// Class probabilities; with `mirrorAveraged`, the mean of the images' and their mirror images' (test-time augmentation).
func predictProbabilities(_ model: Model, _ images: Tensor, mirrorAveraged: Bool) throws -> Tensor {
    var probabilities = try model.predict(images)
    if mirrorAveraged {
        let mirrored = try model.predict(images.mirroredLeftToRight)
        for i in probabilities.data.indices { probabilities.data[i] = (probabilities.data[i] + mirrored.data[i]) / 2 }
    }
    guard probabilities.data.allSatisfy(\.isFinite) else {
        throw ModelError("the model's outputs are NaN or infinite for these images, so there is no prediction; its weights overflow (a diverged run?)")
    }
    return probabilities
}

/// One-vs-rest ROC AUC per class (the rank statistic, ties shared); nil for a class with no positives or no negatives.
func rocAUC(truth: [Int], probabilities: [[Float]], classes: Int) -> [Double?] {
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


