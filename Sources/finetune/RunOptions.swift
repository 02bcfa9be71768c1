import ArgumentParser
import Core
import FineTune
import Foundation
import ImageData
import KerasFiles
import Zoo

extension OptimizerKind: ExpressibleByArgument {}
extension Augmentation.Policy: ExpressibleByArgument {}
extension RunConfiguration.ClassWeighting: ExpressibleByArgument {}
extension RunConfiguration.Monitor: ExpressibleByArgument {}
extension Precision: ExpressibleByArgument {}

extension LearningRateSchedule: ExpressibleByArgument {
    public var defaultValueDescription: String { "constant" }
}

/// `imagenet`, `none` or a weights file, made absolute so a resumed run finds it from any directory.
extension RunConfiguration.Weights: ExpressibleByArgument {
    public init?(argument: String) {
        guard !argument.isEmpty else { return nil }
        let weights = RunConfiguration.Weights(argument)
        if case .file(let path) = weights { self = .file(absolutePath(path)) } else { self = weights }
    }

    public var defaultValueDescription: String { description }
}

func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

/// `--schedule`: comma-separated GROUP:EPOCHS@RATE phases (the rate may be left out: --lr then).
struct PhaseList: ExpressibleByArgument {
    struct Entry { let group: String, epochs: Int, rate: Float? }
    let entries: [Entry]
    let text: String

    init?(argument: String) {
        var entries: [Entry] = []
        for piece in argument.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = piece.split(separator: ":")
            let rest = parts.count == 2 ? parts[1].split(separator: "@") : []
            guard parts.count == 2, let epochs = Int(rest.first ?? ""), rest.count <= 2 else { return nil }
            let rate = rest.count == 2 ? Float(rest[1]) : nil
            if rest.count == 2, rate == nil { return nil }
            entries.append(Entry(group: String(parts[0]), epochs: epochs, rate: rate))
        }
        (self.entries, text) = (entries, argument)
    }

    func phases(learningRate: Float) -> [Phase] {
        entries.map { Phase($0.group, epochs: $0.epochs, learningRate: $0.rate ?? learningRate) }
    }
}

/// The number format of every command that computes.
struct PrecisionOptions: ParsableArguments {
    @Option(name: .long, help: "float32 (the default) or bf16. This build computes in float32 only: bf16 says in one line why (a processor without native bfloat16, avx512_bf16, or no bfloat16 kernels yet) and runs float32.")
    var precision: Precision = .float32

    var values: [String] { [precision.rawValue] }
}

/// The precision to compute in; says in one line when it is not the one asked for.
@discardableResult
func announce(_ precision: Precision) -> Precision {
    let choice = PrecisionChoice(precision)
    if let note = choice.note { log("note: \(note)") }
    return choice.effective
}

/// What to train on and how images are read.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: "Training data: a folder with one sub-folder of images per class (or train/ and val/ sub-folders), a folder in the CSV layout, a folder of IDX files, or an .npz archive with x and y.")
    var data: String?

    @Option(name: .long, parsing: .unconditional, help: "Input height and width (default: the model's own).")
    var imageSize: Int?

    @Option(name: .long, parsing: .unconditional, help: "Share of each class held out for validation (default 0.2; data with train/ and val/ folders uses them as given).")
    var valSplit: Double?

    @Flag(name: .long, help: "Center-crop images to a square before resizing, instead of squeezing them.")
    var crop = false

    @Flag(name: .long, help: "Several labels per image (sigmoid outputs); set by itself for multi-label CSV data.")
    var multilabel = false

    @Option(name: .long, parsing: .unconditional, help: "Gigabytes of decoded images kept in memory; a larger data set is decoded again for every batch, so memory stays bounded.")
    var imageMemory: Double = Double(ImageFolder.defaultMemoryBudget) / Double(1 << 30)

    @Flag(name: .long, help: "Stop before training if any file cannot be read as an image.")
    var strict = false

    /// The values as given, to tell whether any flag of the group was used.
    var values: [String] { ["\(data as Any)", "\(imageSize as Any)", "\(valSplit as Any)", "\(crop)", "\(multilabel)", "\(imageMemory)", "\(strict)"] }

    func validate() throws {
        if let valSplit, !(0..<1).contains(valSplit) { throw ValidationError("--val-split must be in [0, 1), got \(valSplit)") }
        if !(imageMemory >= 0) { throw ValidationError("--image-memory must be 0 or more gigabytes, got \(imageMemory)") }
    }

    /// The data options of a run on `data` (made absolute, so a resumed run finds it from any directory).
    func configuration(_ data: String) -> RunConfiguration.DataOptions {
        var options = RunConfiguration.DataOptions(path: absolutePath(data))
        options.imageSize = imageSize
        if let valSplit { options.validationShare = valSplit }
        options.crop = crop
        options.multiLabel = multilabel
        options.imageMemory = Int(imageMemory * Double(1 << 30))
        options.strict = strict
        return options
    }
}

/// How the weights move: the optimizer, its rate and penalties, and the loss.
struct OptimizerOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: "Learning rate of the head (and of phases without their own).")
    var lr: Float = 1e-3

    @Option(name: .long, parsing: .unconditional, help: "Factor on the rate for unfrozen base groups (default 0.1; 1 with --weights none: nothing pretrained to protect).")
    var baseLrMult: Float?

    @Option(name: .long, help: "sgd, adam, adamw or rmsprop.")
    var optimizer: OptimizerKind = .adam

    @Option(name: .long, parsing: .unconditional, help: "Momentum of sgd or rmsprop, in [0, 1) (default 0, as in Keras).")
    var momentum: Float?

    @Option(name: .long, parsing: .unconditional, help: "Decoupled weight decay: before each step a weight shrinks by this times its rate, as Keras' weight_decay (default 0.004 with adamw, none otherwise).")
    var weightDecay: Float?

    @Option(name: .long, parsing: .unconditional, help: "Scale every step's gradients down when their joint L2 norm exceeds this, as Keras' global_clipnorm (steps.csv in the run folder logs the norms).")
    var clipNorm: Float?

    @Option(name: .long, parsing: .unconditional, help: "L1 penalty on trained kernels.")
    var l1: Float = 0

    @Option(name: .long, parsing: .unconditional, help: "L2 penalty on trained kernels.")
    var l2: Float = 0

    @Option(name: .long, parsing: .unconditional, help: "Images per step.")
    var batchSize: Int = 32

    @Option(name: .long, parsing: .unconditional, help: "Label smoothing ε in [0, 1).")
    var labelSmoothing: Float = 0

    @Option(name: .long, help: ArgumentHelp("'auto' weighs each class by the inverse of its share of the training images; 'none' (the default) weighs all alike.", valueName: "auto|none"))
    var classWeights: RunConfiguration.ClassWeighting = .none

    @Flag(name: .long, inversion: .prefixedNo, help: "Let unfrozen BatchNorm layers use batch statistics and update their moving statistics (default: off for a pretrained base, as Keras' transfer-learning guide prescribes; on with --weights none, as Keras trains from scratch).")
    var trainBn: Bool?

    @Flag(name: .long, help: "Under mpirun: BatchNorm in training mode takes its statistics over the whole batch, every process's share, as one process would (default: each process over its own share).")
    var syncBn = false

    @Option(name: .long, help: "Seed of the split, the head's initial weights, shuffling and dropout.")
    var seed: UInt64 = 0

    var values: [String] {
        ["\(lr)", "\(baseLrMult as Any)", optimizer.rawValue, "\(momentum as Any)", "\(weightDecay as Any)", "\(clipNorm as Any)", "\(l1)", "\(l2)",
         "\(batchSize)", "\(labelSmoothing)", classWeights.rawValue, "\(trainBn as Any)", "\(syncBn)", "\(seed)"]
    }

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be above 0, got \(lr)") }
        if let baseLrMult, !(baseLrMult >= 0 && baseLrMult.isFinite) { throw ValidationError("--base-lr-mult must be 0 or more, got \(baseLrMult)") }
        if !(0..<1).contains(labelSmoothing) { throw ValidationError("--label-smoothing must be in [0, 1), got \(labelSmoothing)") }
        if !(l1 >= 0 && l2 >= 0 && l1.isFinite && l2.isFinite) { throw ValidationError("--l1 and --l2 must be 0 or more, got \(l1) and \(l2)") }
        if let momentum {
            guard [.sgd, .rmsprop].contains(optimizer) else { throw ValidationError("--momentum applies to --optimizer sgd or rmsprop, not \(optimizer.rawValue)") }
            guard (0..<1).contains(momentum) else { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
        }
        if let clipNorm, !(clipNorm > 0 && clipNorm.isFinite) { throw ValidationError("--clip-norm must be above 0, got \(clipNorm)") }
        if let weightDecay, !(weightDecay >= 0 && weightDecay.isFinite) { throw ValidationError("--weight-decay must be 0 or more, got \(weightDecay)") }
    }

    func apply(to config: inout RunConfiguration) {
        config.baseRateFactor = baseLrMult
        config.optimizer = optimizer
        config.momentum = momentum ?? 0
        config.weightDecay = weightDecay
        config.clipNorm = clipNorm
        (config.l1, config.l2) = (l1, l2)
        config.batchSize = batchSize
        config.labelSmoothing = labelSmoothing
        config.classWeighting = classWeights
        config.trainBatchNorm = trainBn
        config.synchronizeBatchNorm = syncBn ? true : nil
        config.seed = seed
    }
}

/// The phases: head epochs then everything, or an explicit schedule, and how the rate moves within them.
struct ScheduleOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: "Total epochs (default 10; with --freeze-epochs; ignored with --schedule).")
    var epochs: Int?

    @Option(name: .long, parsing: .unconditional, help: "Epochs of head-only training before the whole base unfreezes (default 3, or half of --epochs when that is less).")
    var freezeEpochs: Int?

    @Option(name: .long, help: ArgumentHelp("Phases GROUP:EPOCHS@RATE,… instead of --epochs/--freeze-epochs.", valueName: "phases"))
    var schedule: PhaseList?

    @Option(name: .long, help: ArgumentHelp("How the rate moves within each phase: constant, cosine[:WARMUP_EPOCHS] (decays to zero at the phase's end), step:EPOCHS:FACTOR, one-cycle, plateau:PATIENCE:FACTOR (on the validation loss).", valueName: "schedule"))
    var lrSchedule: LearningRateSchedule = .constant

    @Option(name: .long, parsing: .unconditional, help: "Stop a phase after this many epochs without a better validation loss.")
    var earlyStopping: Int?

    @Option(name: .long, help: "What picks best.h5: the epoch with the highest val_accuracy or the lowest val_loss (training accuracy or loss without validation images).")
    var monitor: RunConfiguration.Monitor = .validationAccuracy

    var totalEpochs: Int { epochs ?? 10 }
    /// Defaults adapt to a short run: `--epochs 1` trains everything for its one epoch.
    var headEpochs: Int { freezeEpochs ?? min(3, totalEpochs / 2) }

    var values: [String] {
        ["\(epochs as Any)", "\(freezeEpochs as Any)", schedule?.text ?? "", lrSchedule.argument, "\(earlyStopping as Any)", monitor.rawValue]
    }

    func validate() throws {
        if let earlyStopping, earlyStopping < 1 { throw ValidationError("--early-stopping must be at least 1 epoch") }
        guard schedule == nil else { return }
        if totalEpochs < 1 { throw ValidationError("--epochs must be at least 1, got \(totalEpochs)") }
        if headEpochs < 0 || headEpochs > totalEpochs {
            throw ValidationError("--freeze-epochs must be between 0 and --epochs (\(totalEpochs)), got \(headEpochs)")
        }
    }

    /// The phases, checked against the base's layer groups.
    func phases(base: Architecture, learningRate: Float) throws -> (phases: [Phase], description: String) {
        guard let schedule else {
            return (RunConfiguration.phases(epochs: totalEpochs, headEpochs: headEpochs, learningRate: learningRate),
                    "freeze \(headEpochs) of \(totalEpochs)")
        }
        let phases = schedule.phases(learningRate: learningRate)
        do {
            try Recipe(phases).validate(groups: base.layerGroups.withHead.names)
        } catch {
            throw ValidationError("--schedule: \(error)")
        }
        return (phases, schedule.text)
    }
}

/// The new head on the base.
struct HeadArguments: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: "Dropout before the classifier.")
    var dropout: Float = 0.2

    @Option(name: .long, parsing: .unconditional, help: "Units of an extra Dense+ReLU layer in the head.")
    var hidden: Int?

    var values: [String] { ["\(dropout)", "\(hidden as Any)"] }

    func validate() throws {
        if !(0..<1).contains(dropout) { throw ValidationError("--dropout must be in [0, 1), got \(dropout)") }
        if let hidden, hidden < 1 { throw ValidationError("--hidden must be at least 1, got \(hidden)") }
    }
}

/// Seeded augmentation of training images: a policy and per-transform overrides.
struct AugmentationOptions: ParsableArguments {
    @Option(name: .long, help: "Augmentation policy for training images: none, light (flips, small rotations and zooms, brightness) or standard (also shifts, contrast, saturation, noise, blur).")
    var augment: Augmentation.Policy = .none

    @Option(name: .long, parsing: .unconditional, help: "Augmented views per image whose frozen-base features head-only phases cache (each epoch uses the next); phases that train the base see a new view every epoch.")
    var augmentViews: Int = 4

    @Option(name: .long, parsing: .unconditional, help: "Override: largest rotation in degrees.")
    var rotation: Float?

    @Option(name: .long, parsing: .unconditional, help: "Override: largest zoom, as a fraction.")
    var zoom: Float?

    @Option(name: .long, parsing: .unconditional, help: "Override: largest shift either way, as a fraction of the side.")
    var shift: Float?

    @Option(name: .long, parsing: .unconditional, help: "Override: largest brightness change, as a fraction.")
    var brightness: Float?

    @Flag(name: .long, inversion: .prefixedNo, help: "Override: random horizontal flips.")
    var flip: Bool?

    var values: [String] {
        [augment.rawValue, "\(augmentViews)", "\(rotation as Any)", "\(zoom as Any)", "\(shift as Any)", "\(brightness as Any)", "\(flip as Any)"]
    }

    func validate() throws {
        if augmentViews < 1 { throw ValidationError("--augment-views must be at least 1, got \(augmentViews)") }
        // Rotations beyond half a turn repeat smaller ones; a zoom, shift or brightness change of 1 or more erases the image.
        for (flag, value) in [("--rotation", rotation), ("--zoom", zoom), ("--shift", shift), ("--brightness", brightness)] {
            guard let value else { continue }
            if !(value >= 0) { throw ValidationError("\(flag) must be 0 or more, got \(value)") }
            if flag == "--rotation", value > 180 { throw ValidationError("--rotation must be at most 180 degrees, got \(value)") }
            if flag != "--rotation", value >= 1 { throw ValidationError("\(flag) must be below 1 (a fraction of the image), got \(value)") }
        }
    }

    /// The policy with any per-transform overrides.
    var settings: Augmentation {
        var settings = Augmentation(augment)
        if let rotation { settings.rotation = rotation }
        if let zoom { settings.zoom = zoom }
        if let shift { settings.translation = shift }
        if let brightness { settings.brightness = brightness }
        if let flip { settings.horizontalFlip = flip }
        return settings
    }
}

/// Where a run writes.
struct OutputOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Folder for the run's files (default: a new runs/NAME-N, with runs/latest linked to it).", valueName: "FOLDER"))
    var output: String?

    @Flag(name: .long, help: "Write into an --output folder that holds an earlier run, replacing that run's files.")
    var overwrite = false

    var values: [String] { ["\(output as Any)", "\(overwrite)"] }

    /// --output, which must not hold an earlier run unless --overwrite, or a new runs/NAME-N.
    func folder(named name: String, files: [String]) throws -> String {
        guard let output else { return try RunDirectory.fresh(in: "runs", named: name) }
        try RunDirectory.claim(output, files: files, replace: overwrite)
        return output
    }
}
