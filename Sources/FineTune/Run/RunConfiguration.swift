import Core
import Foundation
import ImageData
import KerasFiles
import Zoo

extension Architecture: Codable {}
extension OptimizerKind: Codable {}

/// Everything a training run needs to know, typed; saved in `resume.h5` so a run resumes as it started.
public struct RunConfiguration: Codable, Sendable, Equatable {
    /// Where the base's starting weights come from.
    public enum Weights: Codable, Sendable, Equatable {
        /// The zoo's published ImageNet weights (from the weight cache, downloaded when missing).
        case imagenet
        /// A weights file of the base without its top.
        case file(String)
        /// Random initial weights: the base trains from scratch.
        case none

        /// `imagenet`, `none` or the path: how the configuration is written down.
        public init(_ text: String) {
            self = text == "imagenet" ? .imagenet : text == "none" ? .none : .file(text)
        }

        public var description: String {
            switch self {
            case .imagenet: "imagenet"
            case .none: "none"
            case .file(let path): path
            }
        }
    }

    /// How the loss weighs classes in single-label data.
    public enum ClassWeighting: String, Codable, Sendable, CaseIterable {
        case none
        /// Each class by the inverse of its share of the training images.
        case balanced = "auto"
    }

    /// What picks `best.h5` among the epochs (training accuracy or loss when there are no validation images).
    public enum Monitor: String, Codable, Sendable, CaseIterable {
        case validationAccuracy = "val_accuracy"
        case validationLoss = "val_loss"

        /// The epoch's score, higher is better.
        public func score(_ record: EpochRecord) -> Float {
            switch self {
            case .validationAccuracy: record.validationAccuracy ?? record.accuracy
            case .validationLoss: -(record.validationLoss ?? record.loss)
            }
        }
    }

    /// What data to read and how.
    public struct DataOptions: Codable, Sendable, Equatable {
        /// A folder (class sub-folders, train/ and val/, the CSV layout, IDX files) or an `.npz` file.
        public var path: String
        /// Input height and width; nil for the model's own.
        public var imageSize: Int?
        /// Share of each class held out for validation when the data has no validation folder.
        public var validationShare = 0.2
        /// Center-crop to a square before resizing, instead of squeezing.
        public var crop = false
        /// Several labels per image (sigmoid outputs); multi-label CSV data is multi-label by itself.
        public var multiLabel = false
        /// Bytes of decoded images kept in memory; beyond it images are decoded again for every batch.
        public var imageMemory = ImageFolder.defaultMemoryBudget
        /// Refuse to train when any file cannot be used.
        public var strict = false

        public init(path: String) { self.path = path }
    }

    public var base: Architecture
    public var data: DataOptions
    public var weights: Weights = .imagenet
    /// The phases of the run, in order.
    public var phases: [Phase]
    /// How the phases were asked for, for the record (a schedule, or "freeze H of E").
    public var phasesDescription: String
    public var learningRateSchedule = LearningRateSchedule.constant
    /// Factor on the rate of unfrozen base groups; nil: 0.1 for a pretrained base, 1 from scratch.
    public var baseRateFactor: Float?
    public var optimizer = OptimizerKind.adam
    public var momentum: Float = 0
    /// Decoupled weight decay; nil for the optimizer's default.
    public var weightDecay: Float?
    public var clipNorm: Float?
    public var l1: Float = 0
    public var l2: Float = 0
    public var batchSize = 32
    /// Unfrozen BatchNorm layers use batch statistics; nil: only when training from scratch.
    public var trainBatchNorm: Bool?
    /// In a data-parallel run, those statistics are over the whole batch rather than each process's share
    /// (nil, as in states saved before it existed: each process's own).
    public var synchronizeBatchNorm: Bool?
    public var dropout: Float = 0.2
    public var hidden: Int?
    public var labelSmoothing: Float = 0
    public var classWeighting = ClassWeighting.none
    public var augmentation = Augmentation()
    /// Augmented views per image that head-only phases cache.
    public var augmentedViews = 4
    public var seed: UInt64 = 0
    public var earlyStopping: Int?
    public var monitor = Monitor.validationAccuracy
    /// The precision asked for; a processor without native bfloat16 computes in float32.
    public var precision = Precision.float32

    /// Head for `headEpochs`, then everything, all at `learningRate`.
    public static func phases(epochs: Int, headEpochs: Int, learningRate: Float) -> [Phase] {
        var phases: [Phase] = []
        if headEpochs > 0 { phases.append(Phase(Head.group, epochs: headEpochs, learningRate: learningRate)) }
        if epochs > headEpochs { phases.append(Phase("all", epochs: epochs - headEpochs, learningRate: learningRate)) }
        return phases
    }

    public init(base: Architecture, data: DataOptions, phases: [Phase], phasesDescription: String) {
        self.base = base
        self.data = data
        self.phases = phases
        self.phasesDescription = phasesDescription
    }

    public var recipe: Recipe { Recipe(phases) }
    /// Nothing pretrained to protect: the base learns at the full rate and BatchNorm uses batch statistics, as Keras trains from scratch.
    public var fromScratch: Bool { weights == .none }
    public var effectiveBaseRateFactor: Float { baseRateFactor ?? (fromScratch ? 1 : 0.1) }
    public var batchNormTrains: Bool { trainBatchNorm ?? fromScratch }
    /// The head's learning rate of the first phase: what a configuration built from one rate was given.
    public var learningRate: Float { phases.first?.learningRate ?? 0 }

    /// The optimizer as configured, defaults filled in.
    public var optimizerSettings: OptimizerSettings {
        var settings = OptimizerSettings(optimizer)
        settings.l1 = l1
        settings.l2 = l2
        settings.momentum = momentum
        if let weightDecay { settings.weightDecay = weightDecay }
        settings.globalClipNorm = clipNorm
        return settings
    }

    /// The settings, for the record in every checkpoint (`finetune_checkpoint`'s `settings`).
    public var record: [String: String] {
        let optimizer = optimizerSettings
        return ["weights": weights.description, "schedule": phasesDescription, "lr": "\(learningRate)",
                "lr_schedule": learningRateSchedule.argument, "base_lr_mult": "\(effectiveBaseRateFactor)",
                "optimizer": self.optimizer.rawValue, "momentum": "\(optimizer.momentum)", "weight_decay": "\(optimizer.weightDecay)",
                "clip_norm": clipNorm.map { "\($0)" } ?? "none", "batch_size": "\(batchSize)", "train_bn": "\(batchNormTrains)",
                "label_smoothing": "\(labelSmoothing)", "augment": augmentation.description, "seed": "\(seed)", "data": data.path,
                "class_weights": classWeighting.rawValue, "crop": "\(data.crop)", "hidden": hidden.map { "\($0)" } ?? "none",
                "dropout": "\(dropout)", "l1": "\(l1)", "l2": "\(l2)", "monitor": monitor.rawValue]
    }
}

extension LearningRateSchedule {
    /// `constant`, `cosine` or `cosine:WARMUP_EPOCHS`, `step:EPOCHS:FACTOR`, `one-cycle`, `plateau:PATIENCE:FACTOR`.
    public init?(argument: String) {
        let parts = argument.split(separator: ":").map(String.init)
        let numbers = parts.dropFirst().map { Double($0) }
        guard numbers.allSatisfy({ $0 != nil && $0! >= 0 }) else { return nil }
        let values = numbers.map { $0! }
        switch (parts.first ?? "", values.count) {
        case ("constant", 0): self = .constant
        case ("cosine", 0): self = .cosine(warmupEpochs: 0)
        case ("cosine", 1) where values[0] == values[0].rounded(): self = .cosine(warmupEpochs: Int(values[0]))
        case ("step", 2) where values[0] >= 1 && values[0] == values[0].rounded(): self = .step(epochs: Int(values[0]), factor: Float(values[1]))
        case ("one-cycle", 0): self = .oneCycle
        case ("plateau", 2) where values[0] >= 1 && values[0] == values[0].rounded():
            self = .reduceOnPlateau(patience: Int(values[0]), factor: Float(values[1]))
        default: return nil
        }
    }

    /// The written form that gives this schedule back.
    public var argument: String {
        switch self {
        case .constant: "constant"
        case .cosine(let warmup): warmup == 0 ? "cosine" : "cosine:\(warmup)"
        case .step(let epochs, let factor): "step:\(epochs):\(factor)"
        case .oneCycle: "one-cycle"
        case .reduceOnPlateau(let patience, let factor): "plateau:\(patience):\(factor)"
        }
    }
}
