import Core
import Foundation

/// How the learning rate moves within a phase, as a factor on the phase's rate.
public enum LearningRateSchedule: Sendable, Equatable, Codable {
    case constant
    /// × `factor` every `epochs` epochs.
    case step(epochs: Int, factor: Float)
    /// Linear warm-up over `warmupEpochs`, then cosine decay to zero at the end of the phase.
    case cosine(warmupEpochs: Int)
    /// Up from rate/25 to the rate over the first 30% of steps, then down to rate/10⁴ (fastai's one-cycle).
    case oneCycle
    /// × `factor` when the validation loss has not improved for `patience` epochs.
    case reduceOnPlateau(patience: Int, factor: Float)

    /// The factor at `step` of `totalSteps` (0-based, `stepsPerEpoch` per epoch), given the plateau
    /// reductions so far.
    public func factor(step: Int, totalSteps: Int, stepsPerEpoch: Int, plateauReductions: Int = 0) -> Float {
        let epoch = step / max(stepsPerEpoch, 1)
        switch self {
        case .constant:
            return 1
        case .step(let every, let factor):
            return Float(Foundation.pow(Double(factor), Double(epoch / max(every, 1))))
        case .cosine(let warmupEpochs):
            let warmup = warmupEpochs * stepsPerEpoch
            if step < warmup { return Float(step + 1) / Float(warmup) }
            let progress = Double(step - warmup) / Double(max(totalSteps - warmup, 1))
            return Float(0.5 * (1 + cos(Double.pi * progress)))
        case .oneCycle:
            let peak = max(Int(0.3 * Double(totalSteps)), 1)
            let start: Double = 1.0 / 25, end = 1e-4
            if step < peak {
                let t = Double(step) / Double(peak)
                return Float(start + (1 - start) * 0.5 * (1 - cos(Double.pi * t)))
            }
            let t = Double(step - peak) / Double(max(totalSteps - peak, 1))
            return Float(end + (1 - end) * 0.5 * (1 + cos(Double.pi * t)))
        case .reduceOnPlateau(_, let factor):
            return Float(Foundation.pow(Double(factor), Double(plateauReductions)))
        }
    }
}

/// Counts epochs without improvement of the validation loss for `.reduceOnPlateau` and early stopping.
public struct PlateauTracker: Sendable, Codable {
    public let patience: Int
    /// The best loss so far (nil before the first epoch).
    public private(set) var best: Float?
    public private(set) var waited = 0

    public init(patience: Int) { self.patience = patience }

    /// Records an epoch's loss; true when patience has run out (and restarts the count).
    public mutating func exhausted(after loss: Float) -> Bool {
        if best.map({ loss < $0 }) ?? true {
            best = loss
            waited = 0
            return false
        }
        waited += 1
        if waited >= patience {
            waited = 0
            return true
        }
        return false
    }
}
