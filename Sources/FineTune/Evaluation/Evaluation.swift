import Core
import Foundation
import ImageData
import KerasFiles
import Zoo

/// A checkpoint scored on labelled images: what `evaluate` prints and the library example reports.
public struct Evaluation {
    public let model: Model
    public let info: CheckpointInfo
    /// Average each image's probabilities with its mirror image's.
    public var mirrorAveraged = false

    public init(checkpoint path: String, mirrorAveraged: Bool = false) throws {
        (model, info) = try Checkpoint.load(path)
        self.mirrorAveraged = mirrorAveraged
    }

    /// The images at `indices` of `images` (all of them when nil) with the model's predictions; throws when
    /// one has no label.
    public func predictions(_ images: ImageFolder, indices: [Int]? = nil) throws -> (indices: [Int], predictions: [Prediction]) {
        let indices = indices ?? Array(0..<images.count)
        if let unlabelled = indices.first(where: { images.labelSets[$0].isEmpty }) {
            throw TrainingError("\(images.files[unlabelled]) in \(images.root) has no label; scores need labelled images")
        }
        let predictions = try Predictor(model, mirrorAveraged: mirrorAveraged).predict(images, indices: indices, preprocessing: info.preprocessingMode)
        return (indices, predictions)
    }

    /// Single-label scores: accuracy, per-class figures, ROC AUC and the ten images with the highest loss.
    public func scores(_ images: ImageFolder, indices: [Int]? = nil) throws -> ClassificationScores {
        let (indices, predictions) = try predictions(images, indices: indices)
        let truth = indices.map { images.labels[$0] }
        var scores = ClassificationScores(truth: truth, predicted: predictions.map(\.label), names: info.classes, skipped: images.skipped)
        scores.mirrorAveraged = mirrorAveraged
        scores.rocAUC = rocAUC(truth: truth, probabilities: predictions.map(\.probabilities), classes: info.classes.count)
        let known = scores.rocAUC.compactMap { $0 }
        scores.macroROCAUC = known.isEmpty ? nil : known.reduce(0, +) / Double(known.count)
        scores.topLosses = zip(indices.map { images.files[$0] }, zip(truth, predictions)).map { file, pair in
            let p = Double(max(pair.1.probabilities[pair.0], 1e-12))
            return ClassificationScores.TopLoss(file: file, truth: info.classes[pair.0], predicted: info.classes[pair.1.label],
                                                probabilityOfTruth: p, loss: -log(p))
        }.sorted { $0.loss > $1.loss }.prefix(10).map { $0 }
        return scores
    }

    /// Multi-label scores at the threshold.
    public func multiLabelScores(_ images: ImageFolder, indices: [Int]? = nil) throws -> MultiLabelScores {
        let (indices, predictions) = try predictions(images, indices: indices)
        return MultiLabelScores(truth: indices.map { images.labelSets[$0] }, predictions: predictions, names: info.classes)
    }
}

extension RunFolder {
    /// The positions in `images` (the run's data, read again) of the images the run validated on.
    public func validationIndices(in images: ImageFolder, data: String) throws -> [Int] {
        let names = Set(try SavedSplit(split).validation.map { SavedSplit.name($0, below: data) })
        return images.files.indices.filter { names.contains(SavedSplit.name(images.files[$0], below: data)) }
    }
}
