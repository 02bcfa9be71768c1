import Core

/// Images with targets that a fine-tuning run reads in batches.
public protocol LabeledImages {
    var count: Int { get }
    /// (height, width, channels) of one preprocessed image.
    var imageShape: [Int] { get }
    /// How many augmented views of each image a head-only phase caches base features for (0: no
    /// augmentation). Phases that train the base ask for view `epoch`, a new one every epoch.
    var augmentedViews: Int { get }
    /// The images as they are (`view` nil) or their `view`-th augmented version, which is the same
    /// every time it is asked for, so base features of a view can be cached and a resumed run sees
    /// the same images.
    func batch(_ indices: [Int], view: Int?) throws -> (images: Tensor, targets: Targets)
}

extension LabeledImages {
    public var augmentedViews: Int { 0 }

    public func batch(_ indices: [Int]) throws -> (images: Tensor, targets: Targets) { try batch(indices, view: nil) }
}

/// Preprocessed images held in memory (NHWC) with their targets.
public struct InMemoryImages: LabeledImages {
    public let images: Tensor
    public let targets: Targets

    public init(images: Tensor, targets: Targets) throws {
        guard images.shape.count >= 2 else { throw TrainingError("images must be a batch, got shape \(images.shape)") }
        guard targets.count == images.batch else {
            throw TrainingError("\(targets.count) labels for \(images.batch) images")
        }
        self.images = images
        self.targets = targets
    }

    public var count: Int { images.batch }
    public var imageShape: [Int] { Array(images.shape.dropFirst()) }

    public func batch(_ indices: [Int], view: Int?) throws -> (images: Tensor, targets: Targets) {
        let size = images.count / max(images.batch, 1)
        var data: [Float] = []
        data.reserveCapacity(indices.count * size)
        for i in indices { data += images.data[(i * size)..<((i + 1) * size)] }
        return (Tensor(shape: [indices.count] + imageShape, data: data), targets.subset(indices))
    }
}

extension Targets {
    public func subset(_ indices: [Int]) -> Targets {
        switch self {
        case .classes(let labels):
            return .classes(indices.map { labels[$0] })
        case .multiHot(let hot):
            let k = hot.count / max(hot.batch, 1)
            return .multiHot(Tensor(shape: [indices.count, k], data: indices.flatMap { hot.data[($0 * k)..<(($0 + 1) * k)] }))
        }
    }

    /// Correct predictions from logits: the top class for single-label; each output on the right
    /// side of probability 0.5 (logit 0) for multi-label.
    func correct(logits: Tensor) -> (correct: Int, total: Int) {
        let k = logits.count / max(logits.batch, 1)
        switch self {
        case .classes(let labels):
            var hits = 0
            for (i, label) in labels.enumerated() {
                let row = logits.data[(i * k)..<((i + 1) * k)]
                if row.argmax == label { hits += 1 }
            }
            return (hits, labels.count)
        case .multiHot(let hot):
            let hits = zip(logits.data, hot.data).filter { ($0 >= 0) == ($1 >= 0.5) }.count
            return (hits, hot.count)
        }
    }
}
