import Core
import Foundation
import ImageData
import Zoo

/// A model's class probabilities for one image (always finite: the predictor refuses others).
public struct Prediction: Sendable {
    public let probabilities: [Float]

    public init(probabilities: [Float]) { self.probabilities = probabilities }

    public var label: Int { probabilities.argmax ?? 0 }
    public var probability: Float { probabilities[label] }

    /// A multi-label model predicts every class whose sigmoid output reaches this.
    public static let multiLabelThreshold: Float = 0.5

    /// The classes at `multiLabelThreshold` or more, the most probable first.
    public var labelsAboveThreshold: [Int] {
        probabilities.indices.filter { probabilities[$0] >= Self.multiLabelThreshold }.sorted { probabilities[$0] > probabilities[$1] }
    }
}

/// A stop request (Ctrl-C, SIGTERM, SIGHUP) that arrived between prediction batches.
public struct PredictionStopped: Error {}

/// Runs a model over many images in batches: the one prediction loop that training reports, `evaluate`,
/// `predict` and `embed` share. Not Sendable (it holds a model): one thread at a time.
public struct Predictor {
    public let model: Model
    public var batchSize = 32
    /// Test-time augmentation: average each image's probabilities with its mirror image's.
    public var mirrorAveraged = false

    public init(_ model: Model, batchSize: Int = 32, mirrorAveraged: Bool = false) {
        (self.model, self.batchSize, self.mirrorAveraged) = (model, batchSize, mirrorAveraged)
    }

    /// Class probabilities of a batch; with `mirrorAveraged`, the mean of the images' and their mirror images'.
    public func probabilities(_ images: Tensor) throws -> Tensor {
        var probabilities = try model.predict(images)
        if mirrorAveraged {
            let mirrored = try model.predict(images.mirroredLeftToRight)
            for i in probabilities.data.indices { probabilities.data[i] = (probabilities.data[i] + mirrored.data[i]) / 2 }
        }
        guard probabilities.data.allSatisfy(\.isFinite) else {
            throw TrainingError("the model's outputs are NaN or infinite for these images, so there is no prediction; its weights overflow (a diverged run?)")
        }
        return probabilities
    }

    /// One prediction per image of a batch.
    public func predictions(_ images: Tensor) throws -> [Prediction] {
        let p = try probabilities(images)
        let k = p.count / max(images.batch, 1)
        return (0..<images.batch).map { Prediction(probabilities: Array(p.data[($0 * k)..<(($0 + 1) * k)])) }
    }

    /// Predictions for `count` images that `images` loads by position, a batch at a time; `shouldStop` is
    /// asked before each batch, and `done` hears of each finished batch.
    public func predict(count: Int, images: ([Int]) throws -> Tensor, shouldStop: () -> Bool = { false },
                        done: ([Int], [Prediction]) throws -> Void = { _, _ in }) throws -> [Prediction] {
        var result: [Prediction] = []
        for start in stride(from: 0, to: count, by: batchSize) {
            if shouldStop() { throw PredictionStopped() }
            let chunk = Array(start..<min(start + batchSize, count))
            let batch = try predictions(images(chunk))
            try done(chunk, batch)
            result += batch
        }
        return result
    }

    /// Predictions for folder images at `indices`.
    public func predict(_ folder: ImageFolder, indices: [Int], preprocessing: Preprocessing,
                        shouldStop: () -> Bool = { false }) throws -> [Prediction] {
        try predict(count: indices.count, images: { folder.images($0.map { indices[$0] }, preprocessing: preprocessing) },
                    shouldStop: shouldStop)
    }

    /// Predictions for image files, a batch at a time; a file that cannot be read is skipped and returned
    /// with its reason. `done` hears of each batch's readable files and their predictions.
    public func predict(files: [String], size: Int, preprocessing: Preprocessing, cropToSquare: Bool = false,
                        done: ([String], [Prediction]) throws -> Void) throws -> [ImageFolder.Skipped] {
        var skipped: [ImageFolder.Skipped] = []
        for start in stride(from: 0, to: files.count, by: batchSize) {
            let batch = readableImageBatch(Array(files[start..<min(start + batchSize, files.count)]), height: size, width: size,
                                           preprocessing: preprocessing, cropToSquare: cropToSquare)
            skipped += batch.skipped
            guard !batch.read.isEmpty else { continue }
            try done(batch.read, try predictions(batch.images))
        }
        return skipped
    }

    /// The model's raw outputs (features or probabilities) for a batch of any size, stacked.
    public func outputs(_ x: Tensor) throws -> Tensor {
        let perImage = x.count / max(x.batch, 1)
        var outputs: [Float] = []
        var outputShape: [Int] = []
        for start in stride(from: 0, to: x.batch, by: batchSize) {
            let n = min(batchSize, x.batch - start)
            let slice = Tensor(shape: [n] + x.shape.dropFirst(), data: Array(x.data[(start * perImage)..<((start + n) * perImage)]))
            let y = try model.predict(slice)
            outputs += y.data
            outputShape = Array(y.shape.dropFirst())
        }
        return Tensor(shape: [x.batch] + outputShape, data: outputs)
    }
}
