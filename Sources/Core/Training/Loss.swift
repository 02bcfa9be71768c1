import Foundation

/// What a batch should predict.
public enum Targets: Sendable {
    /// One class index per image (single-label; two classes included).
    case classes([Int])
    /// A 0/1 row per image (multi-label).
    case multiHot(Tensor)

    public var count: Int {
        switch self {
        case .classes(let labels): return labels.count
        case .multiHot(let t): return t.batch
        }
    }
}

/// Losses computed from logits, as Keras does for softmax and sigmoid outputs.
public struct Loss: Sendable {
    public enum Kind: Sendable { case softmaxCrossEntropy, sigmoidBinaryCrossEntropy }

    public var kind: Kind
    /// Targets become (1 − ε)·target + ε/K (softmax) or (1 − ε)·target + ε/2 (sigmoid).
    public var labelSmoothing: Float
    /// A weight per class multiplies each image's loss (single-label); the mean is still over the batch.
    public var classWeights: [Float]?

    public init(_ kind: Kind, labelSmoothing: Float = 0, classWeights: [Float]? = nil) {
        self.kind = kind
        self.labelSmoothing = labelSmoothing
        self.classWeights = classWeights
    }

    /// The mean loss over the batch and its gradient with respect to the logits. With `meanOver` the batch is one
    /// process's share of a larger one: its sum is divided by the larger batch's size, so the shares add up.
    public func evaluate(logits: Tensor, targets: Targets, meanOver: Int? = nil) throws -> (value: Float, gradient: Tensor) {
        let (rows, k) = (logits.batch, logits.count / max(logits.batch, 1))
        guard rows > 0 else { throw ModelError("the batch is empty") }
        let n = meanOver ?? rows
        guard targets.count == rows else { throw ModelError("\(targets.count) labels for a batch of \(rows) images") }
        var gradient = Tensor(zeros: logits.shape)
        var total = 0.0
        switch (kind, targets) {
        case (.softmaxCrossEntropy, .classes(let labels)):
            for (i, label) in labels.enumerated() {
                guard (0..<k).contains(label) else {
                    throw ModelError("label \(label) is out of range for \(k) classes")
                }
                let row = logits.data[(i * k)..<((i + 1) * k)].map(Double.init)
                let top = row.max()!
                let logSum = top + log(row.reduce(0) { $0 + exp($1 - top) })
                let weight = Double(classWeights?[label] ?? 1)
                for j in 0..<k {
                    let target = Double(j == label ? 1 - labelSmoothing : 0) + Double(labelSmoothing) / Double(k)
                    let probability = exp(row[j] - logSum)
                    total -= weight * target * (row[j] - logSum)
                    gradient.data[i * k + j] = Float(weight * (probability - target) / Double(n))
                }
            }
        case (.sigmoidBinaryCrossEntropy, .multiHot(let hot)):
            guard hot.count == logits.count else { throw ModelError("multi-label targets have shape \(hot.shape), logits \(logits.shape)") }
            for index in 0..<logits.count {
                let z = Double(logits.data[index])
                let target = Double(hot.data[index]) * Double(1 - labelSmoothing) + Double(labelSmoothing) / 2
                // log(1 + e^−|z|) + max(z, 0) − z·t: stable for large |z|.
                total += max(z, 0) - z * target + log1p(exp(-abs(z)))
                let probability = 1 / (1 + exp(-z))
                gradient.data[index] = Float((probability - target) / Double(n * k))
            }
            total /= Double(k)
        default:
            throw ModelError("\(kind) needs \(kind == .softmaxCrossEntropy ? "class indices" : "multi-hot") targets")
        }
        return (Float(total / Double(n)), gradient)
    }
}
