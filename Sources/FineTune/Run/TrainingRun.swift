import Converters
import Core
import Foundation
import ImageData
import KerasFiles
import Zoo

/// Something a run tells its caller besides training progress.
public enum RunNote: Sendable {
    case reading(data: String, size: Int)
    case weightsLoaded(summary: String, from: String)
    case weightsDownload(String)
    case skipped(ImageFolder.Skipped)
    /// A file that stops a strict run.
    case badFile(ImageFolder.Skipped)
    /// The data has its own validation folder, so the configured validation share is not used.
    case validationShareUnused
    /// A cosine warm-up as long as a phase: that phase's rate never decays.
    case warmupFillsPhase(warmupEpochs: Int, phase: Phase)
    /// Files of a resumed run's saved split that are gone, and files added since that it leaves out.
    case splitFilesGone(count: Int, first: String)
    case splitFilesNew(count: Int, first: String)
    /// The per-step log (steps.csv) cannot be written; training goes on.
    case stepLogFailed(String)
    /// A streamed image that could not be read any more when a batch needed it, and what took its place.
    case imageReplaced(LateReadFailure)
}

/// What a run looks like before it starts: the data, the phases and the settings in force.
public struct RunPlan: Sendable {
    public enum Validation: Sendable { case none, givenFolder, heldOut(share: Double) }
    public struct PlannedPhase: Sendable {
        public let phase: Phase
        public let trainableParameters: Int
        /// The rate of unfrozen base groups; nil when only the head trains.
        public let baseRate: Float?
    }

    public let configuration: RunConfiguration
    public let imageSize: Int
    public let classes: [String]
    /// Images per class; an image with several labels counts in each of its classes.
    public let trainCounts: [Int]
    public let validationCounts: [Int]
    public let multiLabel: Bool
    public let validation: Validation
    public let phases: [PlannedPhase]
    /// Images are decoded again for every batch: held in memory they would exceed the image memory.
    public let streams: Bool
    public let optimizer: OptimizerSettings
    /// The loss's class weights, when classes are weighed.
    public let classWeights: [Float]?
    public let folder: String
    public let trainImages: Int
    public let validationImages: Int
}

/// Measured before the first step: how long the work will take and the memory used so far.
public struct RunEstimate: Sendable {
    /// Seconds to compute the base's features once for the head-only phases.
    public let featureSeconds: Double?
    /// Seconds per epoch of the first phase that trains the base, and that phase's deepest group.
    public let epochSeconds: (group: String, seconds: Double)?
    public let peakMemoryGB: Double
}

/// What a training run reports while it goes.
public enum RunEvent: Sendable {
    case note(RunNote)
    case plan(RunPlan)
    case estimate(RunEstimate)
    case training(FineTuneEvent)
    case reportWritten(URL)
}

/// How a run ended.
public enum RunResult: Sendable {
    /// All phases ran. `best` is the epoch `best.h5` holds (by the configuration's monitor); `reportWritten` is
    /// false when a stop request came while the report was being made.
    case finished(best: EpochRecord?, validated: Bool, history: [EpochRecord], skipped: [ImageFolder.Skipped], reportWritten: Bool)
    /// Stopped on request; `resume.h5` holds the state.
    case stopped(RunPosition)
}

/// A fine-tuning run from a configuration into a run folder: reads the data, builds the model and its head,
/// loads the weights, trains through the phases, and writes checkpoints, history, logs and the report.
/// It resumes from its folder's `resume.h5` to the same weights as a run that never stopped. Not Sendable:
/// a run and its events stay on the thread that calls `run`; its configuration and results are values that may cross threads.
public struct TrainingRun {
    public let configuration: RunConfiguration
    public let folder: RunFolder
    /// The processes of a data-parallel run (nil: one process). Rank 0 alone loads the starting weights and
    /// writes the folder's files; every process reads the data and, resuming, the folder's state.
    public let collective: Collective?

    public init(_ configuration: RunConfiguration, folder: RunFolder, collective: Collective? = nil) {
        self.configuration = configuration
        self.folder = folder
        self.collective = collective
    }

    /// This process writes the run's files.
    private var writes: Bool { (collective?.rank ?? 0) == 0 }

    /// The run that stopped in `folder`, with the configuration it started with.
    public static func resuming(_ folder: RunFolder) throws -> TrainingRun {
        guard case .configuration(let configuration) = try folder.savedStart() else {
            throw RunError.unreadableState(folder.resumeState.path, "it was saved by an older version from command-line arguments; resume it with the command")
        }
        return TrainingRun(configuration, folder: folder)
    }

    /// Trains (or, with `resume`, continues from `resume.h5`), telling `events` what happens; `shouldStop` is
    /// asked between steps and, when it says yes, the run saves its state and returns `.stopped`.
    public func run(resume: Bool = false, events: (RunEvent) throws -> Void,
                    shouldStop: @escaping () -> Bool = { false }) throws -> RunResult {
        let config = configuration
        let spec = try Manifest.shared.model(config.base)
        let size = config.data.imageSize ?? spec.defaultInputSize
        // Converted weights (from PyTorch, say) expect the preprocessing they record, not the architecture's.
        let preprocessing = try ConvertedWeights.preprocessing(forWeights: config.weights.description, base: config.base)
        let recipe = config.recipe
        try recipe.validate(groups: config.base.layerGroups.withHead.names)
        try FileManager.default.createDirectory(at: folder.url, withIntermediateDirectories: true)
        // Before any image is read: a size this machine cannot train at is refused at once.
        let backbone = try config.base.build(ModelOptions(inputHeight: size, inputWidth: size))
        try backbone.checkMemory(batch: config.batchSize, training: recipe.phases.contains { $0.deepestGroup != Head.group },
                                 inputDescription: "\(size)x\(size)")

        func note(_ note: RunNote) throws { try events(.note(note)) }
        try note(.reading(data: config.data.path, size: size))
        var data = try RunData(config.data, size: size, seed: config.seed)
        if data.givenValidation, config.data.validationShare != RunConfiguration.DataOptions(path: "").validationShare {
            try note(.validationShareUnused)
        }
        if case .cosine(let warmup) = config.learningRateSchedule, let short = recipe.phases.first(where: { $0.epochs <= warmup }) {
            try note(.warmupFillsPhase(warmupEpochs: warmup, phase: short))
        }
        let skipped = data.skipped
        if config.data.strict, !skipped.isEmpty {
            for skip in skipped { try note(.badFile(skip)) }
            throw RunError.unusableFiles(config.data.path, count: skipped.count)
        }
        for skip in skipped { try note(.skipped(skip)) }
        if resume { try data.restoreSplit(from: folder.split, below: config.data.path, notes: note) }
        if writes {
            try data.saveSplit(to: folder.split, below: config.data.path)
            try writeJSON(skipped, to: folder.skipped)
        }
        guard data.train.classes.count >= 2 else { throw RunError.tooFewClasses(config.data.path, data.train.classes.first) }

        // The other processes receive rank 0's weights when training starts.
        if !resume && writes { try loadBaseWeights(backbone, spec: spec, note: note) }
        var head = HeadOptions(classes: data.train.classes.count)
        head.dropout = config.dropout
        head.hidden = config.hidden
        head.seed = config.seed
        let multiLabel = config.data.multiLabel || data.train.isMultiLabel
        head.multiLabel = multiLabel
        if multiLabel && config.classWeighting != .none { throw RunError.multiLabelClassWeights }
        let model = try Head.attach(to: backbone, head)
        let classWeights = config.classWeighting == .balanced ? data.balancedClassWeights : nil

        var settings = FineTuneSettings()
        settings.optimizer = config.optimizerSettings
        settings.batchSize = config.batchSize
        settings.schedule = config.learningRateSchedule
        settings.baseLearningRateMultiplier = config.effectiveBaseRateFactor
        settings.trainBatchNorm = config.batchNormTrains
        settings.seed = config.seed
        settings.earlyStoppingPatience = config.earlyStopping
        settings.synchronizeBatchNorm = config.synchronizeBatchNorm == true
        settings.loss = multiLabel ? Loss(.sigmoidBinaryCrossEntropy, labelSmoothing: config.labelSmoothing)
            : Loss(.softmaxCrossEntropy, labelSmoothing: config.labelSmoothing, classWeights: classWeights)
        let tuner = try FineTuner(model: model, groups: config.base.layerGroups, settings: settings, collective: collective)

        var train = FolderImages(folder: data.train, indices: data.trainIndices, preprocessing: preprocessing, multiLabel: multiLabel)
        train.augmentation = config.augmentation
        train.views = config.augmentation.isIdentity ? 0 : config.augmentedViews
        train.seed = config.seed
        let validation = data.validationIndices.isEmpty ? nil
            : FolderImages(folder: data.validation, indices: data.validationIndices, preprocessing: preprocessing, multiLabel: multiLabel)
        try events(.plan(try plan(train: train, validation: validation, data: data, tuner: tuner, classWeights: classWeights)))
        try events(.estimate(try estimate(model: model, train: train, validation: validation?.count ?? 0)))

        let info = try CheckpointInfo(base: config.base, classes: data.train.classes, imageSize: size, head: head, crop: config.data.crop,
                                      preprocessing: preprocessing, settings: config.record)
        var position: RunPosition?
        if resume {
            let saved = try TrainingState.load(folder.resumeState.path, into: model, optimizer: tuner.optimizer,
                                               attributes: [RunFolder.positionAttribute])
            position = try JSONDecoder().decode(RunPosition.self, from: Data(saved[RunFolder.positionAttribute]!.utf8))
            let (before, now) = (position?.processes ?? 1, collective?.size ?? 1)
            if before != now { throw RunError.processCountChanged(folder.path, saved: before, now: now) }
        }
        let history = writes ? HistoryWriter(directory: folder.url, records: position?.history ?? []) : nil
        var best = (position?.history ?? []).map(config.monitor.score).max() ?? -Float.infinity
        let configurationText = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        func saveState(_ position: RunPosition) throws {
            try TrainingState.save(model, optimizer: tuner.optimizer, attributes: [
                RunFolder.positionAttribute: String(decoding: try JSONEncoder().encode(position), as: UTF8.self),
                RunFolder.configurationAttribute: configurationText,
            ], to: folder.resumeState.path)
        }
        let stepLog = writes ? StepLog(directory: folder.url, resumingAt: position) : nil
        if let failure = stepLog?.failure { try note(.stepLogFailed(failure)) }
        let outcome = try tuner.run(recipe, train: train, validation: validation, from: position, shouldStop: shouldStop, events: { event in
            for failure in train.folder.lateFailures.take() + (validation?.folder.lateFailures.take() ?? []) {
                try note(.imageReplaced(failure))
            }
            switch event {
            case .step(let phase, let epoch, let step, _, let loss, let learningRate, let norm, _, _):
                if let failure = stepLog?.append(phase: phase, epoch: epoch, step: step, learningRate: learningRate, loss: loss, gradientNorm: norm) {
                    try note(.stepLogFailed(failure))
                }
            case .epochEnded(let record, let resumable):
                guard let history else { break }
                // A file that cannot be written (a full disk) ends the run: training on would only claim
                // checkpoints that are not there. The last resume.h5 written stays whole.
                do {
                    try history.append(record)
                    try Checkpoint.save(model, info: info, to: folder.last.path)
                    let score = config.monitor.score(record)
                    if score > best {
                        best = score
                        try Checkpoint.save(model, info: info, to: folder.best.path)
                    }
                    // A run killed outright (kill -9, out of memory, power lost) resumes from its last finished epoch.
                    if resumable.phase < recipe.phases.count { try saveState(resumable) }
                } catch {
                    throw RunError.cannotSave("\(error)", phase: record.phase, epoch: record.epoch, folder: folder.path,
                                              resumable: FileManager.default.fileExists(atPath: folder.resumeState.path))
                }
            case .phaseStarted, .earlyStop:
                break
            }
            try events(.training(event))
        })
        guard let history else { return try otherProcessResult(outcome, tuner: tuner, validated: validation != nil, skipped: skipped) }
        try history.write()
        if case .stopped(let position) = outcome {
            try saveState(position)
            return .stopped(position)
        }
        try? FileManager.default.removeItem(at: folder.resumeState)
        var reportWritten = true
        do {
            try writeReport(data: data, history: tuner.history, shouldStop: shouldStop)
            try events(.reportWritten(folder.report))
        } catch is PredictionStopped {
            reportWritten = false
        }
        let bestEpoch = tuner.history.max { config.monitor.score($0) < config.monitor.score($1) }
        return .finished(best: bestEpoch, validated: validation != nil, history: tuner.history, skipped: skipped, reportWritten: reportWritten)
    }

    /// How the run ended for a process that writes nothing.
    private func otherProcessResult(_ outcome: RunOutcome, tuner: FineTuner, validated: Bool, skipped: [ImageFolder.Skipped]) throws -> RunResult {
        if case .stopped(let position) = outcome { return .stopped(position) }
        let best = tuner.history.max { configuration.monitor.score($0) < configuration.monitor.score($1) }
        return .finished(best: best, validated: validated, history: tuner.history, skipped: skipped, reportWritten: true)
    }

    private func loadBaseWeights(_ backbone: Model, spec: Manifest.Model, note: (RunNote) throws -> Void) throws {
        switch configuration.weights {
        case .none:
            backbone.initializeWeights(seed: configuration.seed)
        case .imagenet:
            var messages: [String] = []
            let path = try WeightCache().fetchConverted(configuration.base, includeTop: false, progress: { messages.append($0) })
            for message in messages { try note(.weightsDownload(message)) }
            try note(.weightsLoaded(summary: try Weights.load(into: backbone, from: path.path).summary, from: path.path))
        case .file(let path):
            try note(.weightsLoaded(summary: try Weights.load(into: backbone, from: path).summary, from: path))
        }
    }

    /// report.html from the best checkpoint's predictions on the validation images.
    private func writeReport(data: RunData, history: [EpochRecord], shouldStop: @escaping () -> Bool) throws {
        var scores: RunReport.Scores?
        var gallery: ReportGallery?
        let validation = data.validationIndices, images = data.validation
        if !validation.isEmpty, FileManager.default.fileExists(atPath: folder.best.path) {
            let (model, info) = try Checkpoint.load(folder.best.path)
            let predictions = try Predictor(model).predict(images, indices: validation, preprocessing: info.preprocessingMode, shouldStop: shouldStop)
            let pairs = zip(validation, predictions)
            if info.multiLabel {
                scores = .multiLabel(MultiLabelScores(truth: validation.map { images.labelSets[$0] }, predictions: predictions, names: images.classes))
                gallery = ReportGallery(pairs.map { .init(multiLabel: $1, index: $0, in: images) }, image: images.image(at:))
            } else {
                scores = .singleLabel(ClassificationScores(truth: validation.map { images.labels[$0] }, predicted: predictions.map(\.label),
                                                           names: images.classes))
                gallery = ReportGallery(pairs.map { .init(singleLabel: $1, index: $0, in: images) }, image: images.image(at:))
            }
        }
        try RunReport(title: "finetune \(configuration.base.rawValue) on \(configuration.data.path)", history: history, scores: scores,
                      gallery: gallery).write(to: folder.url)
    }

    private func plan(train: FolderImages, validation: FolderImages?, data: RunData, tuner: FineTuner,
                      classWeights: [Float]?) throws -> RunPlan {
        let config = configuration
        let phases = try config.phases.map { phase in
            RunPlan.PlannedPhase(phase: phase, trainableParameters: try tuner.trainableParameterCount(from: phase.deepestGroup),
                                 baseRate: phase.deepestGroup == Head.group ? nil : phase.learningRate * config.effectiveBaseRateFactor)
        }
        let kind: RunPlan.Validation = validation == nil ? .none : data.givenValidation ? .givenFolder : .heldOut(share: config.data.validationShare)
        return RunPlan(configuration: config, imageSize: train.folder.size, classes: train.folder.classes, trainCounts: train.labelCounts,
                       validationCounts: validation?.labelCounts ?? Array(repeating: 0, count: train.folder.classes.count),
                       multiLabel: train.multiLabel, validation: kind, phases: phases,
                       streams: train.folder.streams || validation?.folder.streams == true,
                       optimizer: tuner.optimizer.settings, classWeights: classWeights, folder: folder.path,
                       trainImages: train.count, validationImages: validation?.count ?? 0)
    }

    /// Times a batch through the frozen base and one training step of the first phase that trains the
    /// base (weights untouched: gradients are computed, not applied), and reads the peak memory so far.
    private func estimate(model: Model, train: FolderImages, validation: Int) throws -> RunEstimate {
        let batchSize = configuration.batchSize
        let batch = Array(0..<min(batchSize, train.count))
        let (x, targets) = try train.batch(batch, view: nil)
        let features = model.prefix(through: model.nodeIndex(ofLayer: "head_pool")!)
        func seconds(_ body: () throws -> Void) throws -> Double {
            try body()  // the first call builds oneDNN primitives
            let start = Date()
            try body()
            return Date().timeIntervalSince(start)
        }
        let forward = try seconds { _ = try features.predict(x) } / Double(batch.count)
        let views = max(train.augmentedViews, 1)
        let recipe = configuration.recipe
        let featureSeconds = recipe.phases.contains { $0.deepestGroup == Head.group } ? forward * Double(train.count * views + validation) : nil
        var epoch: (String, Double)?
        if let phase = recipe.phases.first(where: { $0.deepestGroup != Head.group }) {
            let layers = try configuration.base.layerGroups.withHead.trainableLayers(from: phase.deepestGroup, in: model)
            let training = try GraphTraining(model: model, trainableLayers: layers)
            var context = TrainingContext(seed: 0)
            let loss = train.multiLabel ? Loss(.sigmoidBinaryCrossEntropy) : Loss(.softmaxCrossEntropy)
            let step = try seconds { _ = try training.lossAndGradients(x, targets, loss: loss, context: &context) }
            epoch = (phase.deepestGroup, step * Double((train.count + batchSize - 1) / batchSize) + forward * Double(validation))
        }
        return RunEstimate(featureSeconds: featureSeconds, epochSeconds: epoch, peakMemoryGB: ProcessMemory.peakGB)
    }
}

/// The process's memory use as the kernel reports it.
public enum ProcessMemory {
    /// The peak resident set so far (VmHWM), in gigabytes; 0 where /proc is not there.
    public static var peakGB: Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kilobytes / 1_048_576
    }
}
