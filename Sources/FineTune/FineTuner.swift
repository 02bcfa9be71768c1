import Core
import Foundation
import Zoo

/// How a fine-tuning run trains, beyond its phases.
public struct FineTuneSettings: Sendable {
    public var optimizer = OptimizerSettings(.adam)
    public var batchSize = 32
    /// Learning-rate factor for unfrozen base groups (the head always trains at the phase's rate).
    public var baseLearningRateMultiplier: Float = 1
    /// Discriminative rates: the deepest trainable base group gets this factor of the base rate,
    /// later groups geometrically more, up to the base rate for the last one.
    public var discriminativeLowest: Float?
    public var schedule = LearningRateSchedule.constant
    /// Let unfrozen BatchNorm layers use batch statistics and update their averages
    /// (off by default, as Keras' transfer-learning guide advises).
    public var trainBatchNorm = false
    public var loss = Loss(.softmaxCrossEntropy)
    public var seed: UInt64 = 0
    /// Stop a phase after this many epochs without a better validation loss.
    public var earlyStoppingPatience: Int?
    /// While only the head trains, compute the frozen base's features once and train from them.
    public var cacheFeatures = true
    /// With several processes, BatchNorm in training mode takes its statistics over the whole batch rather than
    /// each process's share (synchronised BatchNorm: the result of one process on the global batch).
    public var synchronizeBatchNorm = false

    public init() {}
}

/// One epoch's figures.
public struct EpochRecord: Sendable, Codable {
    public var phase: Int
    public var epoch: Int
    public var learningRate: Float
    public var loss: Float
    public var accuracy: Float
    public var validationLoss: Float?
    public var validationAccuracy: Float?
    public var seconds: Double
    public var imagesPerSecond: Double
    public var trainableParameters: Int
}

/// What a run tells its caller while it goes.
public enum FineTuneEvent: Sendable {
    case phaseStarted(index: Int, phase: Phase, trainableParameters: Int, cachedFeatures: Bool)
    /// After each step: its loss, rate and gradient norm (before clipping), and the epoch's running accuracy and
    /// images per second so far.
    case step(phase: Int, epoch: Int, step: Int, steps: Int, loss: Float, learningRate: Float, gradientNorm: Float,
              accuracy: Float, imagesPerSecond: Double)
    /// `resumable` is where a run that dies from here on (killed, out of memory, power lost) can continue.
    case epochEnded(EpochRecord, resumable: RunPosition)
    case earlyStop(phase: Int, epoch: Int)
}

/// Where a run stands: enough to continue it exactly (with the weights and optimizer state).
public struct RunPosition: Codable, Sendable {
    public var phase = 0
    public var epoch = 0
    /// The next step of the epoch, and the epoch's image order once drawn.
    public var step = 0
    var order: [Int]?
    var rng: SeededGenerator
    var dropoutRNG: SeededGenerator?
    /// Every process's dropout generator, by rank, in a data-parallel run.
    var rankDropoutRNGs: [SeededGenerator]?
    var plateau: PlateauTracker?
    var stopper: PlateauTracker?
    var reductions = 0
    var sums = EpochSums()
    public var history: [EpochRecord] = []
    /// Processes of the data-parallel run that saved this position; nil: one.
    public var processes: Int?

    init(phase: Int = 0, rng: SeededGenerator, history: [EpochRecord] = []) {
        self.phase = phase
        self.rng = rng
        self.history = history
    }

    /// The start of the next phase, which keeps only the shuffling generator, the history and the process count.
    func nextPhase(history: [EpochRecord]) -> RunPosition {
        var next = RunPosition(phase: phase + 1, rng: rng, history: history)
        next.processes = processes
        return next
    }
}

/// Running totals of the current epoch.
struct EpochSums: Codable, Sendable {
    var loss = 0.0
    var correct = 0
    var total = 0
    /// Time the epoch ran before the run stopped, so a resumed epoch reports its whole duration.
    var seconds = 0.0

    init() {}

    /// States saved before `seconds` was kept decode with none.
    init(from decoder: Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        loss = try values.decode(Double.self, forKey: .loss)
        correct = try values.decode(Int.self, forKey: .correct)
        total = try values.decode(Int.self, forKey: .total)
        seconds = try values.decodeIfPresent(Double.self, forKey: .seconds) ?? 0
    }

    mutating func add(loss: Double, correct: Int, total: Int) {
        self.loss += loss
        self.correct += correct
        self.total += total
    }
}

/// How a run ended.
public enum RunOutcome: Sendable {
    case finished
    /// Stopped on request; continue with `run(_:train:validation:from:)`.
    case stopped(RunPosition)
}

/// Fine-tunes a zoo model with a new head through a recipe of freezing phases. Not Sendable: it belongs
/// to the thread that runs it; the next batch is decoded on another thread (`BatchPrefetch`), which only
/// reads the data set.
public final class FineTuner {
    public let model: Model
    public let groups: LayerGroups
    public let settings: FineTuneSettings
    public private(set) var history: [EpochRecord] = []
    public let optimizer: Optimizer
    private let groupOfLayer: [String: String]
    private var rng: SeededGenerator
    /// The processes of a data-parallel run; nil for one process.
    private let collective: Collective?
    /// Pooled base features of the training images (one tensor per augmented view, or one without
    /// augmentation) and of the validation images, valid while the base is unchanged.
    private var featureCache: (train: [Tensor], validation: Tensor?)?

    /// `model` is a base with a head from `Head.attach`; `groups` the architecture's layer groups. With `collective`
    /// every process of a data-parallel run trains on its share of each batch and all hold the same weights.
    public init(model: Model, groups: LayerGroups, settings: FineTuneSettings, collective: Collective? = nil) throws {
        guard settings.batchSize >= 1 else { throw ConfigurationError.batchSize(settings.batchSize) }
        guard model.nodeIndex(ofLayer: "head_pool") != nil else {
            throw TrainingError("the model has no new head; attach one with Head.attach")
        }
        self.model = model
        self.groups = groups.withHead
        self.settings = settings
        self.optimizer = Optimizer(settings.optimizer)
        self.groupOfLayer = try self.groups.assign(model)
        self.rng = SeededGenerator(seed: settings.seed)
        self.collective = collective
    }

    /// Trainable parameter count when `deepestGroup` and every later group train.
    public func trainableParameterCount(from deepestGroup: String) throws -> Int {
        let layers = try groups.trainableLayers(from: deepestGroup, in: model)
        return model.layers.filter { layers.contains(ObjectIdentifier($0)) }
            .flatMap(\.parameters).filter(\.trainable).reduce(0) { $0 + $1.value.count }
    }

    /// Runs every phase in order, or continues from `position` (a run stopped by `shouldStop`).
    /// `shouldStop` is asked before every step; when it says yes the run returns where it stands,
    /// and `run(_:train:validation:from:)` with that position ends with the same weights as a run
    /// that never stopped. A non-finite loss or gradient stops the run with an error that names the
    /// phase, epoch and step; the weights are those after the last good step. An error thrown by
    /// `events` (a checkpoint that could not be written, say) ends the run with that error.
    @discardableResult
    public func run(_ recipe: Recipe, train: LabeledImages, validation: LabeledImages? = nil, from position: RunPosition? = nil,
                    shouldStop: () -> Bool = { false }, events: (FineTuneEvent) throws -> Void = { _ in }) throws -> RunOutcome {
        try recipe.validate(groups: groups.names)
        guard train.count > 0 else { throw TrainingError("the training set is empty") }
        guard train.imageShape == model.inputShape else {
            throw TrainingError("training images have shape \(train.imageShape); the model expects \(model.inputShape)")
        }
        var position = position ?? RunPosition(rng: rng)
        guard position.phase <= recipe.phases.count else { throw TrainingError("the saved position is past the end of the schedule") }
        if let collective {
            try checkShares(images: train.count, processes: collective.size)
            // Rank 0's weights and head everywhere, so every process starts from the same model.
            for parameter in model.layers.flatMap(\.parameters) {
                var values = parameter.value.data
                collective.broadcast(&values)
                parameter.value = Tensor(shape: parameter.shape, data: values)
            }
            position.processes = collective.size
        }
        history = position.history
        while position.phase < recipe.phases.count {
            if try runPhase(recipe.phases[position.phase], train: train, validation: validation, position: &position,
                            shouldStop: shouldStop, events: events) {
                position.history = history
                return .stopped(position)
            }
            position = position.nextPhase(history: history)
        }
        rng = position.rng
        return .finished
    }

    /// Runs (the rest of) one phase; true when stopped early by `shouldStop`.
    private func runPhase(_ phase: Phase, train: LabeledImages, validation: LabeledImages?, position: inout RunPosition,
                          shouldStop: () -> Bool, events: (FineTuneEvent) throws -> Void) throws -> Bool {
        let index = position.phase
        let trainableLayers = try groups.trainableLayers(from: phase.deepestGroup, in: model)
        let trainable = model.layers.filter { trainableLayers.contains(ObjectIdentifier($0)) }
        let parameters = trainable.flatMap(\.parameters).filter(\.trainable)
        // Optimizer state belongs to parameters: what stopped training forgets, what starts begins at zero.
        optimizer.retainState(for: parameters)
        let headOnly = Set(trainable.map { groupOfLayer[$0.name]! }) == [Head.group]
        let cached = headOnly && settings.cacheFeatures
        let count = parameters.reduce(0) { $0 + $1.value.count }
        try events(.phaseStarted(index: index, phase: phase, trainableParameters: count, cachedFeatures: cached))

        let (trainingModel, trainSet, validationSet): (Model, LabeledImages, LabeledImages?)
        if cached {
            let pool = model.nodeIndex(ofLayer: "head_pool")!
            let features = try cachedFeatures(pool: pool, train: train, validation: validation)
            trainingModel = try model.suffix(after: pool)
            trainSet = try CachedViews(views: features.train, targets: try allTargets(train))
            validationSet = try features.validation.map { try InMemoryImages(images: $0, targets: try allTargets(validation!)) }
        } else {
            featureCache = headOnly ? featureCache : nil  // the base will change
            (trainingModel, trainSet, validationSet) = (model, train, validation)
        }
        let training = try GraphTraining(model: trainingModel, trainableLayers: trainableLayers)
        // Each process draws its own dropout masks; rank 0 (and a single process) keeps the run's seed.
        let rank = collective?.rank ?? 0
        var context = TrainingContext(seed: settings.seed &+ UInt64(index) &+ UInt64(rank) &* 0x9E37_79B9_7F4A_7C15)
        if let saved = collective == nil ? position.dropoutRNG : position.rankDropoutRNGs?[rank] { context.rng = saved }
        if settings.trainBatchNorm {
            context.batchNormTraining = Set(trainable.compactMap { $0 as? BatchNormalization }.map(ObjectIdentifier.init))
            if settings.synchronizeBatchNorm { context.batchNormSync = collective }
        }
        let rates = learningRateFactors(trainable)
        let stepsPerEpoch = (trainSet.count + settings.batchSize - 1) / settings.batchSize
        var plateau = position.plateau ?? PlateauTracker(patience: patience)
        var stopper = position.stopper ?? settings.earlyStoppingPatience.map { PlateauTracker(patience: $0) }
        while position.epoch < phase.epochs {
            let epoch = position.epoch
            let start = Date()
            if position.order == nil {
                var order = Array(0..<trainSet.count)
                order.shuffle(using: &position.rng)
                position.order = order
                position.sums = EpochSums()
            }
            let order = position.order!
            // Cached features cycle through their views; images for a training base get a new view every epoch.
            let view = trainSet.augmentedViews > 0 ? (cached ? epoch % trainSet.augmentedViews : epoch) : nil
            func indices(_ step: Int) -> [Int] {
                Array(order[(step * settings.batchSize)..<min((step + 1) * settings.batchSize, order.count)])
            }
            /// This process's images of a step: its share of the batch, which it alone decodes.
            func mine(_ step: Int) -> [Int] { collective.map { Array($0.share(of: indices(step))) } ?? indices(step) }
            // The next batch is prepared on another thread while this one trains (one batch ahead at most).
            let prefetch = BatchPrefetch(trainSet)
            prefetch.start(mine(position.step), view: view)
            var rate = phase.learningRate
            for step in position.step..<stepsPerEpoch {
                if stopAgreed(shouldStop) {
                    _ = try? prefetch.take()
                    position.step = step
                    position.sums.seconds += Date().timeIntervalSince(start)
                    (position.dropoutRNG, position.plateau, position.stopper) = (context.rng, plateau, stopper)
                    position.rankDropoutRNGs = everyRank(context.rng)
                    return true
                }
                let batchIndices = indices(step)
                let (x, targets) = try prefetch.take()
                if step + 1 < stepsPerEpoch { prefetch.start(mine(step + 1), view: view) }
                if collective != nil { context.globalBatch = batchIndices.count }
                let global = epoch * stepsPerEpoch + step
                rate = phase.learningRate * settings.schedule.factor(step: global, totalSteps: phase.epochs * stepsPerEpoch,
                                                                     stepsPerEpoch: stepsPerEpoch, plateauReductions: position.reductions)
                let where_ = "phase \(index + 1) (\(phase.deepestGroup)), epoch \(epoch + 1), step \(step + 1)"
                let (loss, gradients, logits): (Float, [ObjectIdentifier: Tensor], Tensor)
                do {
                    (loss, gradients, logits) = try training.lossAndGradients(x, targets, loss: settings.loss, context: &context,
                                                                              exchange: collective?.gradientExchange())
                } catch let error as TrainingError where error.kind == .diverged {
                    throw TrainingError("\(error.description) at \(where_); stopped with the weights of the last good step. Lower the learning rate",
                                        kind: .diverged)
                }
                guard gradients.values.allSatisfy({ $0.data.allSatisfy(\.isFinite) }) else {
                    throw TrainingError("a gradient is not finite at \(where_); stopped with the weights of the last good step. Lower the learning rate",
                                        kind: .diverged)
                }
                let stepRate = rate
                let norm = optimizer.apply(gradients, to: parameters) { stepRate * rates[ObjectIdentifier($0)]! }
                let (stepLoss, scored) = wholeBatch(loss: loss, scored: targets.correct(logits: logits))
                position.sums.add(loss: Double(stepLoss + optimizer.penalty(parameters)) * Double(batchIndices.count),
                                  correct: scored.correct, total: scored.total)
                let seen = min((step + 1) * settings.batchSize, trainSet.count) - position.step * settings.batchSize
                try events(.step(phase: index, epoch: epoch, step: step, steps: stepsPerEpoch, loss: stepLoss, learningRate: stepRate,
                             gradientNorm: norm, accuracy: Float(position.sums.correct) / Float(max(position.sums.total, 1)),
                             imagesPerSecond: Double(seen) / max(Date().timeIntervalSince(start), 1e-9)))
            }
            let sums = position.sums
            var record = EpochRecord(phase: index, epoch: epoch, learningRate: rate, loss: Float(sums.loss / Double(trainSet.count)),
                                     accuracy: Float(sums.correct) / Float(max(sums.total, 1)), validationLoss: nil,
                                     validationAccuracy: nil, seconds: 0, imagesPerSecond: 0, trainableParameters: count)
            if let validationSet {
                let scores = try evaluate(trainingModel, validationSet)
                (record.validationLoss, record.validationAccuracy) = (scores.loss, scores.accuracy)
            }
            record.seconds = sums.seconds + Date().timeIntervalSince(start)
            record.imagesPerSecond = Double(trainSet.count) / max(record.seconds, 1e-9)
            try checkSameState(parameters, epoch: epoch)
            history.append(record)
            (position.epoch, position.step, position.order) = (epoch + 1, 0, nil)
            let monitored = record.validationLoss ?? record.loss
            if case .reduceOnPlateau = settings.schedule, plateau.exhausted(after: monitored) { position.reductions += 1 }
            let stopsEarly = stopper?.exhausted(after: monitored) == true && epoch + 1 < phase.epochs
            var resumable = position
            (resumable.dropoutRNG, resumable.plateau, resumable.stopper, resumable.history) = (context.rng, plateau, stopper, history)
            resumable.rankDropoutRNGs = everyRank(context.rng)
            if stopsEarly || epoch + 1 == phase.epochs { resumable = position.nextPhase(history: history) }
            try events(.epochEnded(record, resumable: resumable))
            if stopsEarly {
                try events(.earlyStop(phase: index, epoch: epoch))
                break
            }
        }
        if !headOnly { featureCache = nil }
        return false
    }

    /// Whether to stop before this step: asked of every process, and all stop at the same step if any was asked
    /// (a signal reaches the processes of `mpirun` at slightly different times).
    private func stopAgreed(_ shouldStop: () -> Bool) -> Bool {
        guard let collective else { return shouldStop() }
        var votes = [shouldStop() ? 1.0 : 0]
        collective.sum(&votes)
        return votes[0] > 0
    }

    /// The step's loss and hits over the whole batch: each process's share holds its part of the mean.
    private func wholeBatch(loss: Float, scored: (correct: Int, total: Int)) -> (Float, (correct: Int, total: Int)) {
        guard let collective else { return (loss, scored) }
        var sums = [Double(loss), Double(scored.correct), Double(scored.total)]
        collective.sum(&sums)
        return (Float(sums[0]), (Int(sums[1]), Int(sums[2])))
    }

    /// After an epoch every process must hold the same bits of every trained weight and its optimizer state; a
    /// process that drifted would make the checkpoints (rank 0's) stand for a run that did not happen.
    private func checkSameState(_ parameters: [Parameter], epoch: Int) throws {
        guard let collective else { return }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over the float bits
        func mix(_ values: [Float]) {
            for v in values { hash = (hash ^ UInt64(v.bitPattern)) &* 0x100_0000_01b3 }
        }
        for parameter in parameters {
            mix(parameter.value.data)
            for slot in optimizer.state(of: parameter)?.slots ?? [] { mix(slot) }
        }
        let all = gather(hash, over: collective)
        if let rank = all.firstIndex(where: { $0 != hash }) {
            throw TrainingError("after epoch \(epoch + 1) the weights of process \(rank) differ from those of process \(collective.rank): the processes no longer train the same model")
        }
    }

    /// Every process's `value`, by rank.
    private func gather(_ value: UInt64, over collective: Collective) -> [UInt64] {
        // Four 16-bit pieces each: exact as floats.
        let pieces = collective.gather((0..<4).map { Float((value >> (16 * UInt64($0))) & 0xffff) })
        return (0..<collective.size).map { rank in (0..<4).reduce(0) { $0 | UInt64(pieces[4 * rank + $1]) << (16 * UInt64($1)) } }
    }

    /// Every process's dropout generator, so a resumed run draws the masks each would have drawn; nil for one process.
    private func everyRank(_ rng: SeededGenerator) -> [SeededGenerator]? {
        collective.map { gather(rng.state, over: $0).map { SeededGenerator(seed: $0) } }
    }

    /// Every process needs images in every step, the last (smaller) one of an epoch included.
    private func checkShares(images: Int, processes: Int) throws {
        let last = images % settings.batchSize
        let smallest = min(settings.batchSize, last == 0 ? settings.batchSize : last)
        guard smallest < processes else { return }
        throw TrainingError("a batch of \(smallest) images cannot be shared by \(processes) processes: every process needs at least one image of every batch (the batch size is the whole batch, shared among them)")
    }

    private var patience: Int {
        if case .reduceOnPlateau(let patience, _) = settings.schedule { return patience }
        return Int.max
    }

    /// Per-parameter factors: 1 for the head; the base multiplier for base groups, spread
    /// geometrically from `discriminativeLowest` at the deepest trainable group when asked.
    private func learningRateFactors(_ layers: [any Layer]) -> [ObjectIdentifier: Float] {
        let baseGroups = groups.names.filter { $0 != Head.group }
        let training = baseGroups.filter { name in layers.contains { groupOfLayer[$0.name] == name } }
        var factors: [ObjectIdentifier: Float] = [:]
        for layer in layers {
            let group = groupOfLayer[layer.name]!
            var factor: Float = 1
            if group != Head.group {
                factor = settings.baseLearningRateMultiplier
                if let lowest = settings.discriminativeLowest, training.count > 1, let position = training.firstIndex(of: group) {
                    let t = Float(position) / Float(training.count - 1)
                    factor *= Float(pow(Double(lowest), Double(1 - t)))
                }
            }
            for parameter in layer.parameters { factors[ObjectIdentifier(parameter)] = factor }
        }
        return factors
    }

    /// Base features once per augmented view (or once without augmentation).
    private func cachedFeatures(pool: Int, train: LabeledImages, validation: LabeledImages?) throws -> (train: [Tensor], validation: Tensor?) {
        if let featureCache { return featureCache }
        let base = model.prefix(through: pool)
        let views: [Int?] = train.augmentedViews > 0 ? Array(0..<train.augmentedViews) : [nil]
        let features = (train: try views.map { try predictAll(base, train, view: $0) },
                        validation: try validation.map { try predictAll(base, $0, view: nil) })
        featureCache = features
        return features
    }

    /// The outputs of `model` for every image; with several processes each computes its share and all gather them.
    private func predictAll(_ model: Model, _ images: LabeledImages, view: Int?) throws -> Tensor {
        var rows: [Float] = []
        for batch in batches(of: images) {
            let (x, _) = try images.batch(batch, view: view)
            rows += try model.predict(x).data
        }
        return Tensor(shape: [images.count] + model.outputShape, data: collective?.gather(rows) ?? rows)
    }

    /// This process's images of `images` (all of them for one process), in batches.
    private func batches(of images: LabeledImages) -> [[Int]] {
        let all = Array(0..<images.count)
        let mine = collective.map { Array($0.share(of: all)) } ?? all
        return stride(from: 0, to: mine.count, by: settings.batchSize).map { Array(mine[$0..<min($0 + settings.batchSize, mine.count)]) }
    }

    /// Every image's targets, read a batch at a time so the images never all sit in memory at once.
    private func allTargets(_ images: LabeledImages) throws -> Targets {
        var (labels, rows, width): ([Int], [Float], Int?) = ([], [], nil)
        for start in stride(from: 0, to: images.count, by: settings.batchSize) {
            switch try images.batch(Array(start..<min(start + settings.batchSize, images.count))).targets {
            case .classes(let part): labels += part
            case .multiHot(let part):
                rows += part.data
                width = part.shape[1]
            }
        }
        guard let width else { return .classes(labels) }
        return .multiHot(Tensor(shape: [images.count, width], data: rows))
    }

    /// Mean loss and accuracy of `model` (inference mode) on `images`.
    public func evaluate(_ model: Model, _ images: LabeledImages) throws -> (loss: Float, accuracy: Float) {
        guard let head = model.nodes[model.output].layer as? Dense else {
            throw TrainingError("the model does not end in a Dense classifier")
        }
        let features = model.prefix(through: model.nodes[model.output].inputs[0])
        var (lossSum, hits, total) = (0.0, 0, 0)
        for batch in batches(of: images) {
            let (x, targets) = try images.batch(batch)
            let logits = try head.logits(try features.predict(x))
            lossSum += Double(try settings.loss.evaluate(logits: logits, targets: targets).value) * Double(x.batch)
            let scored = targets.correct(logits: logits)
            hits += scored.correct
            total += scored.total
        }
        if let collective {
            var sums = [lossSum, Double(hits), Double(total)]
            collective.sum(&sums)
            (lossSum, hits, total) = (sums[0], Int(sums[1]), Int(sums[2]))
        }
        return (Float(lossSum / Double(max(images.count, 1))), Float(hits) / Float(max(total, 1)))
    }
}

/// Cached base features: view k of the training images is the k-th tensor.
private struct CachedViews: LabeledImages {
    let views: [Tensor]
    let targets: Targets

    init(views: [Tensor], targets: Targets) throws {
        guard let first = views.first, targets.count == first.batch else { throw TrainingError("cached features and labels disagree") }
        self.views = views
        self.targets = targets
    }

    var count: Int { views[0].batch }
    var imageShape: [Int] { Array(views[0].shape.dropFirst()) }
    var augmentedViews: Int { views.count > 1 ? views.count : 0 }

    func batch(_ indices: [Int], view: Int?) throws -> (images: Tensor, targets: Targets) {
        try InMemoryImages(images: views[view ?? 0], targets: targets).batch(indices, view: nil)
    }
}

/// Prepares one batch on a background thread while the current one trains.
private final class BatchPrefetch: @unchecked Sendable {
    private let source: LabeledImages
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<(images: Tensor, targets: Targets), Error>?

    init(_ source: LabeledImages) { self.source = source }

    func start(_ indices: [Int], view: Int?) {
        DispatchQueue.global().async {
            self.result = Result { try self.source.batch(indices, view: view) }
            self.done.signal()
        }
    }

    /// Waits for the batch started last.
    func take() throws -> (images: Tensor, targets: Targets) {
        done.wait()
        defer { result = nil }
        return try result!.get()
    }
}
