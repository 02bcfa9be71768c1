import Foundation
import ImageData

/// The validation images a report shows: every mistake before any right answer, cut at `limit` only once
/// that order is set, with a count of each kind the cut leaves out, so no mistake is hidden uncounted.
public struct ReportGallery {
    public struct Sample {
        /// The image's position in its folder.
        let index: Int
        let file: String
        let truth: String
        /// The prediction with its probabilities, as the caption shows it.
        let predicted: String
        let isMistake: Bool
    }

    public static let defaultLimit = 48
    public let shown: [(sample: Sample, image: RGBImage)]
    public let hiddenMistakes: Int
    public let hiddenCorrect: Int

    /// Only the shown images are read (`image` gives the one at a folder position).
    public init(_ samples: [Sample], limit: Int = defaultLimit, image: (Int) -> RGBImage) {
        let ordered = samples.filter(\.isMistake) + samples.filter { !$0.isMistake }
        shown = ordered.prefix(limit).map { ($0, image($0.index)) }
        let hidden = ordered.dropFirst(limit)
        hiddenMistakes = hidden.filter(\.isMistake).count
        hiddenCorrect = hidden.count - hiddenMistakes
    }
}

extension ReportGallery.Sample {
    /// The top class and its probability against the image's class.
    public init(singleLabel prediction: Prediction, index: Int, in folder: ImageFolder) {
        self.init(index: index, file: folder.files[index], truth: folder.classes[folder.labels[index]],
                  predicted: folder.classes[prediction.label] + String(format: " (%.2f)", prediction.probability),
                  isMistake: prediction.label != folder.labels[index])
    }

    /// The classes at the threshold or above, with their probabilities, against the image's classes; a
    /// mistake is any difference between the two sets.
    public init(multiLabel prediction: Prediction, index: Int, in folder: ImageFolder) {
        let predicted = prediction.labelsAboveThreshold
        let truth = folder.labelSets[index]
        self.init(index: index, file: folder.files[index], truth: Self.labelSet(truth.map { folder.classes[$0] }),
                  predicted: Self.labelSet(predicted.map { folder.classes[$0] + String(format: " (%.2f)", prediction.probabilities[$0]) }),
                  isMistake: Set(predicted) != Set(truth))
    }

    private static func labelSet(_ names: [String]) -> String { names.isEmpty ? "none" : names.joined(separator: "; ") }
}
