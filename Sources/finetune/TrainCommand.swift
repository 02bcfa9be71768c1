import ArgumentParser
import Converters
import Core
import FineTune
import Foundation
import Zoo
import ZooIO

extension OptimizerKind: ExpressibleByArgument {}
extension Augmentation.Policy: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a zoo model on a folder with one sub-folder of images per class (the default command).",
        discussion: """
        The head trains first with the base frozen (from cached base features), then layer groups \
        unfreeze as the schedule says, the base at --base-lr-mult times the rate. BatchNorm of a \
        pretrained base stays in inference mode unless --train-bn; with --weights none it learns, and the \
        base learns at the full rate, as Keras trains from scratch. Writes to --output: best.h5 and last.h5 (Keras full-model \
        files that keras.models.load_model reads, and that finetune predict/evaluate use alone), \
        history.csv, history.json, split.json (the validation split), skipped.json (unreadable files), and \
        report.html (curves, per-class metrics, confusion matrix, validation images; opens from disk) with \
        loss.png and accuracy.png.
        Ctrl-C, SIGTERM or a closed terminal (SIGHUP) stops at the next step and saves resume.h5 (weights, optimizer state, schedule \
        position, random state); `finetune train --resume DIR` continues the run with its own flags and \
        ends with the same weights as a run that never stopped. An interrupted run exits with code 130. \
        resume.h5 is also rewritten at the end of every epoch, so a run killed outright resumes from its last \
        finished epoch.
        Schedules: comma-separated GROUP:EPOCHS@RATE phases; GROUP is the deepest group that trains \
        (everything after it trains too), 'head' or 'all'. Groups: resnet50 conv1…conv5; vgg19 \
        block1…block5; inception_v3 stem, mixed0…mixed10; xception block1…block14.
        Examples:
          finetune --base resnet50 --data flowers/
          finetune train --base resnet50 --data flowers/ --weights none \\
              --freeze-epochs 3 --epochs 10
          finetune train --base xception --data flowers/ \\
              --schedule head:3@1e-3,block13:2@1e-4,all:5@1e-5
          finetune train --resume runs/latest
        """)

    @Option(name: .long, help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var base: Architecture?

    @Option(name: .long, help: "Training data: a folder with one sub-folder of images per class (or train/ and val/ sub-folders), a folder in the CSV layout, a folder of IDX files, or an .npz archive with x and y.")
    var data: String?

    @Option(name: .long, help: "Continue the interrupted or killed run in this folder (its resume.h5), with its own flags.")
    var resume: String?

    @Option(name: .long, help: ArgumentHelp("Base weights: 'imagenet' (the zoo cache), an HDF5 file of the base without top, or 'none'.", valueName: "imagenet|FILE|none"))
    var weights: String = "imagenet"

    @Option(name: .long, parsing: .unconditional, help: "Total epochs (default 10; with --freeze-epochs; ignored with --schedule).")
    var epochs: Int?

    @Option(name: .long, parsing: .unconditional, help: "Epochs of head-only training before the whole base unfreezes (default 3, or half of --epochs when that is less).")
    var freezeEpochs: Int?

    @Option(name: .long, help: "Phases GROUP:EPOCHS@RATE,… instead of --epochs/--freeze-epochs.")
    var schedule: String?

    @Option(name: .long, parsing: .unconditional, help: "Learning rate of the head (and of phases without their own).")
    var lr: Float = 1e-3

    @Option(name: .long, help: ArgumentHelp("How the rate moves within each phase: constant, cosine[:WARMUP_EPOCHS] (decays to zero at the phase's end), step:EPOCHS:FACTOR, one-cycle, plateau:PATIENCE:FACTOR (on the validation loss).", valueName: "schedule"))
    var lrSchedule: LearningRateSchedule = .constant

    @Option(name: .long, parsing: .unconditional, help: "Factor on the rate for unfrozen base groups (default 0.1; 1 with --weights none: nothing pretrained to protect).")
    var baseLrMult: Float?

    @Option(name: .long, help: "sgd, adam, adamw or rmsprop.")
    var optimizer: OptimizerKind = .adam

    @Option(name: .long, parsing: .unconditional, help: "Momentum of sgd or rmsprop, in [0, 1) (default 0, as in Keras).")
    var momentum: Float?

    @Option(name: .long, parsing: .unconditional, help: "Decoupled weight decay: before each step a weight shrinks by this times its rate, as Keras' weight_decay (default 0.004 with adamw, none otherwise).")
    var weightDecay: Float?

    @Option(name: .long, parsing: .unconditional, help: "Scale every step's gradients down when their joint L2 norm exceeds this, as Keras' global_clipnorm (steps.csv in --output logs the norms).")
    var clipNorm: Float?

    @Option(name: .long, parsing: .unconditional, help: "Images per step.")
    var batchSize: Int = 32

    @Option(name: .long, parsing: .unconditional, help: "Input height and width (default: the model's own).")
    var imageSize: Int?

    @Flag(name: .long, inversion: .prefixedNo, help: "Let unfrozen BatchNorm layers use batch statistics and update their moving statistics (default: off for a pretrained base, as Keras' transfer-learning guide prescribes; on with --weights none, as Keras trains from scratch).")
    var trainBn: Bool?

    @Option(name: .long, parsing: .unconditional, help: "Dropout before the classifier.")
    var dropout: Float = 0.2

    @Option(name: .long, parsing: .unconditional, help: "Units of an extra Dense+ReLU layer in the head.")
    var hidden: Int?

    @Option(name: .long, parsing: .unconditional, help: "L1 penalty on trained kernels.")
    var l1: Float = 0

    @Option(name: .long, parsing: .unconditional, help: "L2 penalty on trained kernels.")
    var l2: Float = 0

    @Option(name: .long, parsing: .unconditional, help: "Label smoothing ε in [0, 1).")
    var labelSmoothing: Float = 0

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

    @Option(name: .long, parsing: .unconditional, help: "Share of each class held out for validation (default 0.2; data with train/ and val/ folders uses them as given).")
    var valSplit: Double?

    @Option(name: .long, help: "Seed of the split, the head's initial weights, shuffling and dropout.")
    var seed: UInt64 = 0

    @Option(name: .long, parsing: .unconditional, help: "Stop a phase after this many epochs without a better validation loss.")
    var earlyStopping: Int?

    @Option(name: .long, help: "'auto' weighs each class by the inverse of its share of the training images.")
    var classWeights: String?

    @Flag(name: .long, help: "Center-crop images to a square before resizing, instead of squeezing them.")
    var crop = false

    @Flag(name: .long, help: "Several labels per image (sigmoid outputs); set by itself for multi-label CSV data.")
    var multilabel = false

    @Option(name: .long, parsing: .unconditional, help: "Threads for the math (default: every core).")
    var threads: Int?

    @Option(name: .long, parsing: .unconditional, help: "Gigabytes of decoded images kept in memory; a larger data set is decoded again for every batch, so memory stays bounded.")
    var imageMemory: Double = Double(ImageFolder.defaultMemoryBudget) / Double(1 << 30)

    @Flag(name: .long, help: "Stop before training if any file cannot be read as an image.")
    var strict = false

    @Option(name: .long, help: ArgumentHelp("Folder for the run's files (default: a new runs/BASE-N, with runs/latest linked to it).", valueName: "FOLDER"))
    var output: String?

    @Flag(name: .long, help: "Train into an --output folder that holds an earlier run, replacing that run's files.")
    var overwrite = false

    func validate() throws {
        if resume != nil {
            guard CommandLine.arguments.filter({ $0.hasPrefix("--") }).allSatisfy({ $0 == "--resume" }) else {
                throw ValidationError("--resume takes no other flags: the run continues with the flags it started with")
            }
            return
        }
        guard let base else { throw ValidationError("--base is required (\(Architecture.allCases.map(\.rawValue).joined(separator: ", ")))") }
        guard data != nil else { throw ValidationError("--data is required: a folder with one sub-folder of images per class") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1, got \(batchSize)") }
        if !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be above 0, got \(lr)") }
        if let baseLrMult, !(baseLrMult >= 0 && baseLrMult.isFinite) { throw ValidationError("--base-lr-mult must be 0 or more, got \(baseLrMult)") }
        if !(0..<1).contains(dropout) { throw ValidationError("--dropout must be in [0, 1), got \(dropout)") }
        if !(0..<1).contains(labelSmoothing) { throw ValidationError("--label-smoothing must be in [0, 1), got \(labelSmoothing)") }
        if !(0..<1).contains(heldOutShare) { throw ValidationError("--val-split must be in [0, 1), got \(heldOutShare)") }
        if let hidden, hidden < 1 { throw ValidationError("--hidden must be at least 1, got \(hidden)") }
        if !(l1 >= 0 && l2 >= 0 && l1.isFinite && l2.isFinite) { throw ValidationError("--l1 and --l2 must be 0 or more, got \(l1) and \(l2)") }
        if let momentum {
            guard [.sgd, .rmsprop].contains(optimizer) else { throw ValidationError("--momentum applies to --optimizer sgd or rmsprop, not \(optimizer.rawValue)") }
            guard (0..<1).contains(momentum) else { throw ValidationError("--momentum must be in [0, 1), got \(momentum)") }
        }
        if let clipNorm, !(clipNorm > 0 && clipNorm.isFinite) { throw ValidationError("--clip-norm must be above 0, got \(clipNorm)") }
        if let weightDecay, !(weightDecay >= 0 && weightDecay.isFinite) { throw ValidationError("--weight-decay must be 0 or more, got \(weightDecay)") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if !(imageMemory >= 0) { throw ValidationError("--image-memory must be 0 or more gigabytes, got \(imageMemory)") }
        if augmentViews < 1 { throw ValidationError("--augment-views must be at least 1, got \(augmentViews)") }
        // Rotations beyond half a turn repeat smaller ones; a zoom, shift or brightness change of 1 or more erases the image.
        for (flag, value) in [("--rotation", rotation), ("--zoom", zoom), ("--shift", shift), ("--brightness", brightness)] {
            guard let value else { continue }
            if !(value >= 0) { throw ValidationError("\(flag) must be 0 or more, got \(value)") }
            if flag == "--rotation", value > 180 { throw ValidationError("--rotation must be at most 180 degrees, got \(value)") }
            if flag != "--rotation", value >= 1 { throw ValidationError("\(flag) must be below 1 (a fraction of the image), got \(value)") }
        }
        if let classWeights, classWeights != "auto" { throw ValidationError("--class-weights takes 'auto', got '\(classWeights)'") }
        if let earlyStopping, earlyStopping < 1 { throw ValidationError("--early-stopping must be at least 1 epoch") }
        if schedule == nil {
            if totalEpochs < 1 { throw ValidationError("--epochs must be at least 1, got \(totalEpochs)") }
            if headEpochs < 0 || headEpochs > totalEpochs {
                throw ValidationError("--freeze-epochs must be between 0 and --epochs (\(totalEpochs)), got \(headEpochs)")
            }
        } else {
            _ = try recipe()
        }
        try validateImageSize(imageSize, base: base)
    }

    private var totalEpochs: Int { epochs ?? 10 }
    /// Defaults adapt to a short run: `--epochs 1` trains everything for its one epoch.
    private var headEpochs: Int { freezeEpochs ?? min(3, totalEpochs / 2) }
    private var heldOutShare: Double { valSplit ?? 0.2 }

    /// Flags given that this run cannot use, said before it starts rather than ignored in silence.
    private func ignoredFlags(givenSplit: Bool, recipe: Recipe) -> [String] {
        var notes: [String] = []
        if schedule != nil, epochs != nil || freezeEpochs != nil {
            notes.append("--epochs and --freeze-epochs are ignored: --schedule sets the phases")
        }
        if givenSplit, valSplit != nil { notes.append("--val-split is ignored: the data comes with its own validation folder") }
        if case .cosine(let warmup) = lrSchedule, let short = recipe.phases.first(where: { $0.epochs <= warmup }) {
            notes.append("the cosine warm-up of \(counted(warmup, "epoch")) fills phase \(short.deepestGroup) (\(counted(short.epochs, "epoch"))): its rate never decays")
        }
        return notes
    }

    /// The phases from --schedule, or head for --freeze-epochs then everything.
    func recipe() throws -> Recipe {
        guard let schedule else {
            var phases: [Phase] = []
            if headEpochs > 0 { phases.append(Phase(Head.group, epochs: headEpochs, learningRate: lr)) }
            if totalEpochs > headEpochs { phases.append(Phase("all", epochs: totalEpochs - headEpochs, learningRate: lr)) }
            return Recipe(phases)
        }
        let phases = try schedule.split(separator: ",").map { piece -> Phase in
            let parts = piece.split(separator: ":")
            let rest = parts.count == 2 ? parts[1].split(separator: "@") : []
            guard parts.count == 2, let epochs = Int(rest.first ?? ""), rest.count <= 2 else {
                throw ValidationError("--schedule: '\(piece)' is not GROUP:EPOCHS@RATE (for example head:3@1e-3)")
            }
            let rate = rest.count == 2 ? Float(rest[1]) : lr
            guard let rate else { throw ValidationError("--schedule: '\(rest[1])' in '\(piece)' is not a learning rate") }
            return Phase(String(parts[0]), epochs: epochs, learningRate: rate)
        }
        let recipe = Recipe(phases)
        do {
            try recipe.validate(groups: base!.layerGroups.withHead.names)
        } catch {
            throw ValidationError("--schedule: \(error)")
        }
        return recipe
    }

    /// What a stopped run saved (and every run at each epoch's end): its arguments, its position, and (in the
    /// file) weights and optimizer state.
    static let stateFile = "resume.h5"

    /// This run's flags, without the subcommand's name: what a resumed run parses again.
    /// The data and weights files are made absolute, so that `--resume` works from any directory.
    private static var invocationArguments: [String] {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "train" { arguments.removeFirst() }
        let paths: Set<String> = ["--data", "--weights"]
        func absolute(_ path: String) -> String {
            ["imagenet", "none"].contains(path) ? path : URL(fileURLWithPath: path).standardizedFileURL.path
        }
        return arguments.enumerated().map { index, argument in
            if index > 0, paths.contains(arguments[index - 1]) { return absolute(argument) }
            if let flag = paths.first(where: { argument.hasPrefix("\($0)=") }) { return "\(flag)=\(absolute(String(argument.dropFirst(flag.count + 1))))" }
            return argument
        }
    }

    func run() throws {
        guard let resume else { return try train(resuming: nil, arguments: Self.invocationArguments, output: try newRunFolder()) }
        let path = URL(fileURLWithPath: resume).appendingPathComponent(Self.stateFile).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError("\(resume) has no \(Self.stateFile): the run there finished, or it is not a training run's --output folder")
        }
        let file = try KerasModelFile.attribute("finetune_arguments", in: path)
        guard let file, let arguments = try? JSONDecoder().decode([String].self, from: Data(file.utf8)) else {
            throw ModelError("\(path) has no saved arguments; it is not a finetune training state")
        }
        log("resuming \(resume) with: \(arguments.joined(separator: " "))")
        // The folder named now, even when the saved --output was relative to another directory.
        try TrainCommand.parse(arguments).train(resuming: path, arguments: arguments, output: resume)
    }

    /// The folder a new run writes to: --output, which must not hold an earlier run unless --overwrite,
    /// or a new runs/BASE-N.
    private func newRunFolder() throws -> String {
        guard let output else { return try RunDirectory.fresh(in: "runs", named: base!.rawValue) }
        do {
            try RunDirectory.claim(output, files: RunDirectory.trainingFiles, replace: overwrite)
        } catch let error as RunDirectoryError {
            throw ValidationError(error.description)
        }
        return output
    }

    /// Trains with these flags (`arguments`, kept in the state so that a resumed run can stop and resume again)
    /// into `output`.
    private func train(resuming statePath: String?, arguments: [String], output: String) throws {
        let (base, data) = (self.base!, self.data!)
        if let threads { setenv("OMP_NUM_THREADS", "\(threads)", 1) }
        let spec = try Manifest.shared.model(base)
        let size = imageSize ?? spec.defaultInputSize
        let preprocessing = try ConvertedWeights.preprocessing(forWeights: weights, base: base)
        let recipe = try recipe()
        let outputURL = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: outputURL, withIntermediateDirectories: true)
        // Before any image is read: a size this machine cannot train at is refused at once.
        let backbone = try base.build(ModelOptions(inputHeight: size, inputWidth: size))
        try backbone.checkMemory(batch: batchSize, training: recipe.phases.contains { $0.deepestGroup != Head.group },
                                 inputDescription: "\(size)x\(size)")

        log("reading \(data) at \(size)x\(size)")
        // train/ and val/ sub-folders are used as given; otherwise (IDX train-* files too: t10k-* is the test
        // set, for evaluate) a seeded stratified split holds some images out.
        let budget = Int(imageMemory * Double(1 << 30))
        let idx = data.lowercased().hasSuffix(".npz") ? try ImageFolder.npz(data, size: size, memoryBudget: budget)
            : try ImageFolder.idx(root: data, prefix: "train", size: size, memoryBudget: budget)
        let given = idx != nil ? (train: data, validation: nil) : ImageFolder.givenSplits(data)
        let folder = try idx ?? ImageFolder(root: given?.train ?? data, size: size, cropToSquare: crop, memoryBudget: budget)
        let heldOut = try idx != nil ? nil
            : given?.validation.map { try ImageFolder(root: $0, size: size, classes: folder.classes, cropToSquare: crop, memoryBudget: budget) }
        for note in ignoredFlags(givenSplit: heldOut != nil, recipe: recipe) { log("warning: \(note)") }
        let skipped = folder.skipped + (heldOut?.skipped ?? [])
        if strict, !skipped.isEmpty {
            for skip in skipped { log("bad file \(skip.path): \(skip.reason)") }
            throw ModelError("--strict: \(skipped.count) files in \(data) cannot be used (listed above); fix or remove them, or train without --strict to skip them")
        }
        for skip in skipped { log("skipped \(skip.path): \(skip.reason)") }
        var split = given != nil && heldOut != nil ? (train: Array(0..<folder.count), validation: [Int]())
            : folder.stratifiedSplit(validationFraction: heldOutShare, seed: seed)
        let validationFolder = heldOut ?? folder
        var validationIndices = heldOut.map { Array(0..<$0.count) } ?? split.validation
        let splitURL = outputURL.appendingPathComponent("split.json")
        if statePath != nil {
            (split.train, validationIndices) = try SavedSplit(splitURL).indices(train: folder, validation: validationFolder, below: data)
        }
        try writeJSON(SavedSplit(train: split.train.map { SavedSplit.name(folder.files[$0], below: data) },
                                 validation: validationIndices.map { SavedSplit.name(validationFolder.files[$0], below: data) }),
                      to: splitURL)
        try writeJSON(skipped, to: outputURL.appendingPathComponent("skipped.json"))
        guard folder.classes.count >= 2 else {
            throw ModelError("\(data) has \(folder.classes.first.map { "one class (\($0))" } ?? "no labelled images"); a classifier needs at least two classes")
        }

        if statePath == nil { try loadBaseWeights(backbone, spec: spec) }
        var head = HeadOptions(classes: folder.classes.count)
        head.dropout = dropout
        head.hidden = hidden
        head.seed = seed
        let multiLabel = multilabel || folder.isMultiLabel
        head.multiLabel = multiLabel
        if multiLabel && classWeights != nil { throw ModelError("--class-weights applies to single-label data only") }
        let model = try Head.attach(to: backbone, head)

        var settings = FineTuneSettings()
        settings.optimizer = OptimizerSettings(optimizer)
        settings.optimizer.l1 = l1
        settings.optimizer.l2 = l2
        settings.optimizer.momentum = momentum ?? 0
        if let weightDecay { settings.optimizer.weightDecay = weightDecay }
        settings.optimizer.globalClipNorm = clipNorm
        settings.batchSize = batchSize
        settings.schedule = lrSchedule
        settings.baseLearningRateMultiplier = baseRateFactor
        settings.trainBatchNorm = batchNormTrains
        settings.seed = seed
        settings.earlyStoppingPatience = earlyStopping
        settings.loss = multiLabel ? Loss(.sigmoidBinaryCrossEntropy, labelSmoothing: labelSmoothing)
            : Loss(.softmaxCrossEntropy, labelSmoothing: labelSmoothing,
                   classWeights: classWeights == "auto" ? balancedWeights(folder, split.train) : nil)
        let tuner = try FineTuner(model: model, groups: base.layerGroups, settings: settings)

        let augmentation = augmentationSettings()
        let train = FolderImages(folder: folder, indices: split.train, preprocessing: preprocessing, multiLabel: multiLabel,
                                 augmentation: augmentation, views: augmentation.isIdentity ? 0 : augmentViews, seed: seed)
        let validation = validationIndices.isEmpty ? nil : FolderImages(folder: validationFolder, indices: validationIndices,
                                                                        preprocessing: preprocessing, multiLabel: multiLabel)
        try printPlan(train: train, validation: validation, recipe: recipe, tuner: tuner, output: output)
        try printEstimate(model: model, train: train, validation: validation?.count ?? 0, recipe: recipe)

        let info = try CheckpointInfo(base: base, classes: folder.classes, imageSize: size, head: head, crop: crop,
                                      preprocessing: preprocessing, settings: flagRecord())
        var position: RunPosition?
        if let statePath {
            let saved = try TrainingState.load(statePath, into: model, optimizer: tuner.optimizer, attributes: ["finetune_position"])
            position = try JSONDecoder().decode(RunPosition.self, from: Data(saved["finetune_position"]!.utf8))
        }
        let history = HistoryWriter(directory: outputURL, records: position?.history ?? [])
        var best = (position?.history ?? []).map { $0.validationAccuracy ?? $0.accuracy }.max() ?? -Float.infinity
        let resumePath = outputURL.appendingPathComponent(Self.stateFile).path
        func saveState(_ position: RunPosition) throws {
            let encoder = JSONEncoder()
            try TrainingState.save(model, optimizer: tuner.optimizer, attributes: [
                "finetune_position": String(decoding: try encoder.encode(position), as: UTF8.self),
                "finetune_arguments": String(decoding: try encoder.encode(arguments), as: UTF8.self),
            ], to: resumePath)
        }
        var steps = ProgressLine()
        let stepLog = StepLog(directory: outputURL, resumingAt: position)
        let stop = StopRequest()
        let outcome = try tuner.run(recipe, train: train, validation: validation, from: position, shouldStop: stop.requested, events: { event in
            switch event {
            case .phaseStarted(let index, let phase, let count, let cached):
                steps.finish()
                print("phase \(index + 1)/\(recipe.phases.count): \(phase.deepestGroup) for \(counted(phase.epochs, "epoch")) at \(phase.learningRate), \(count) trainable parameters\(cached ? " (from cached base features)" : "")")
            case .step(let phase, let epoch, let step, let total, let loss, let learningRate, let norm, let accuracy, let rate):
                stepLog.append(phase: phase, epoch: epoch, step: step, learningRate: learningRate, loss: loss, gradientNorm: norm)
                let left = Double(total - step - 1) * Double(batchSize) / max(rate, 1e-9)
                steps.show(ProgressLine.bar(step + 1, of: total) + " epoch \(epoch + 1) [\(step + 1)/\(total)] "
                           + String(format: "loss %.4f accuracy %.3f, %.1f images/s, ETA %.0f s", loss, accuracy, rate, left))
            case .epochEnded(let record, let resumable):
                steps.finish()
                print(HistoryWriter.line(record))
                // A file that cannot be written (a full disk) ends the run: training on would only claim
                // checkpoints that are not there. The last resume.h5 written stays whole.
                do {
                    try history.append(record)
                    try Checkpoint.save(model, info: info, to: outputURL.appendingPathComponent("last.h5").path)
                    let score = record.validationAccuracy ?? record.accuracy
                    if score > best {
                        best = score
                        try Checkpoint.save(model, info: info, to: outputURL.appendingPathComponent("best.h5").path)
                    }
                    // A run killed outright (kill -9, out of memory, power lost) resumes from its last finished epoch.
                    if resumable.phase < recipe.phases.count { try saveState(resumable) }
                } catch {
                    throw ModelError("\(error). The run stopped after phase \(record.phase + 1), epoch \(record.epoch + 1)"
                                     + (FileManager.default.fileExists(atPath: resumePath)
                                        ? "; make room, then continue from the last saved epoch with: finetune train --resume \(output)" : ""))
                }
            case .earlyStop(let phase, let epoch):
                print("early stop in phase \(phase + 1) after epoch \(epoch + 1)")
            }
        })
        try history.write()
        if case .stopped(let position) = outcome {
            steps.finish()
            try saveState(position)
            print("interrupted in phase \(position.phase + 1), epoch \(position.epoch + 1), step \(position.step + 1); state saved to \(resumePath). Continue with: finetune train --resume \(output)")
            throw ExitCode(130)
        }
        try? FileManager.default.removeItem(atPath: resumePath)
        do {
            try writeReport(folder: validationFolder, validation: validationIndices, history: tuner.history, directory: outputURL,
                            shouldStop: stop.requested)
        } catch is PredictionStopped {
            print("stopped before report.html was written; the run had finished: checkpoints in \(output)/best.h5 and \(output)/last.h5")
            throw ExitCode(130)
        }
        // Without held-out images best.h5 is the epoch with the best training accuracy; say so rather than call it validation.
        let bestScore = validation == nil ? "best training accuracy (no validation images)" : "best validation accuracy"
        print("\(bestScore) \(String(format: "%.4f", best)); checkpoints in \(output)/best.h5 and \(output)/last.h5")
        if !skipped.isEmpty {
            print("skipped \(counted(skipped.count, "file")) that cannot be used (all listed in \(output)/skipped.json):")
            for skip in skipped.prefix(20) { print("  \(skip.path): \(skip.reason)") }
            if skipped.count > 20 { print("  … and \(skipped.count - 20) more") }
        }
    }

    /// report.html from the best checkpoint's predictions on the validation images.
    private func writeReport(folder: ImageFolder, validation: [Int], history: [EpochRecord], directory: URL,
                             shouldStop: () -> Bool) throws {
        var scores: RunReport.Scores?
        var gallery: ReportGallery?
        let best = directory.appendingPathComponent("best.h5").path
        if !validation.isEmpty, FileManager.default.fileExists(atPath: best) {
            let (model, info) = try Checkpoint.load(best)
            let predictions = try predictClasses(model, folder: folder, indices: validation, preprocessing: info.preprocessingMode,
                                                 shouldStop: shouldStop)
            let pairs = zip(validation, predictions)
            if info.multiLabel {
                scores = .multiLabel(MultiLabelScores(truth: validation.map { folder.labelSets[$0] }, predictions: predictions, names: folder.classes))
                gallery = ReportGallery(pairs.map { .init(multiLabel: $1, index: $0, in: folder) }, image: folder.image(at:))
            } else {
                scores = .singleLabel(ClassificationScores(truth: validation.map { folder.labels[$0] }, predicted: predictions.map(\.label),
                                                           names: folder.classes))
                gallery = ReportGallery(pairs.map { .init(singleLabel: $1, index: $0, in: folder) }, image: folder.image(at:))
            }
        }
        try RunReport(title: "finetune \(base!.rawValue) on \(data!)", history: history, scores: scores, gallery: gallery)
            .write(to: directory)
        print("report: \(directory.appendingPathComponent("report.html").path)")
    }

    /// The policy with any per-transform overrides.
    private func augmentationSettings() -> Augmentation {
        var settings = Augmentation(augment)
        if let rotation { settings.rotation = rotation }
        if let zoom { settings.zoom = zoom }
        if let shift { settings.translation = shift }
        if let brightness { settings.brightness = brightness }
        if let flip { settings.horizontalFlip = flip }
        return settings
    }

    private func loadBaseWeights(_ backbone: Model, spec: Manifest.Model) throws {
        switch weights {
        case "none":
            backbone.initializeWeights(seed: seed)
        case "imagenet":
            let path = try WeightCache().fetchConverted(base!, includeTop: false, progress: { log($0) })
            log(try Weights.load(into: backbone, from: path.path).summary + " from \(path.path)")
        default:
            log(try Weights.load(into: backbone, from: weights).summary + " from \(weights)")
        }
    }

    private func balancedWeights(_ folder: ImageFolder, _ train: [Int]) -> [Float] {
        let counts = folder.classes.indices.map { label in train.filter { folder.labels[$0] == label }.count }
        return counts.map { Float(train.count) / Float(folder.classes.count * max($0, 1)) }
    }

    private func printPlan(train: FolderImages, validation: FolderImages?, recipe: Recipe, tuner: FineTuner, output: String) throws {
        let folder = train.folder
        let kind = train.multiLabel ? "multi-label (sigmoid outputs; a class is predicted at probability \(Prediction.multiLabelThreshold) or more)"
            : "single-label"
        print("plan: \(base!.rawValue) at \(folder.size)x\(folder.size), \(folder.classes.count) classes, \(train.count) training and \(validation?.count ?? 0) validation images, \(kind)")
        print("  validation: " + (validation == nil ? "none (best.h5 follows training accuracy)"
                                  : validation!.folder.root != folder.root ? "the data's own validation folder"
                                  : String(format: "%g%% of each class held out (seeded, stratified; split.json lists them)", heldOutShare * 100)))
        let held = validation?.labelCounts ?? Array(repeating: 0, count: folder.classes.count)
        for (name, (trainCount, heldCount)) in zip(folder.classes, zip(train.labelCounts, held)) {
            print("  \(name): \(trainCount) train, \(heldCount) validation")
        }
        for (index, phase) in recipe.phases.enumerated() {
            let count = try tuner.trainableParameterCount(from: phase.deepestGroup)
            let baseRate = phase.deepestGroup == Head.group ? "" : ", base at " + String(format: "%g", phase.learningRate * baseRateFactor)
            print("  phase \(index + 1): \(phase.deepestGroup) for \(counted(phase.epochs, "epoch")) at \(phase.learningRate)\(baseRate), \(count) trainable parameters")
        }
        print("  BatchNorm: \(batchNormTrains ? "batch statistics in unfrozen groups" : "inference mode throughout (statistics untouched)")")
        if folder.streams || validation?.folder.streams == true {
            print("  images: decoded again for every batch (held in memory they would exceed --image-memory \(imageMemory) GB)")
        }
        let augmentation = augmentationSettings()
        print("  augmentation: \(augmentation.isIdentity ? "none" : "\(augmentation); head-only phases cache \(augmentViews) views per image")")
        // Read back from the optimizer in use, so the plan shows what trains.
        let optimizerSettings = tuner.optimizer.settings
        let extras = [optimizerSettings.momentum > 0 ? "momentum \(optimizerSettings.momentum)" : nil,
                      optimizerSettings.weightDecay > 0 ? "weight decay \(optimizerSettings.weightDecay)" : nil,
                      optimizerSettings.globalClipNorm.map { "gradients clipped to norm \($0)" }].compactMap { $0 }
        print("  optimizer \(optimizerSettings.kind.rawValue)\(extras.isEmpty ? "" : " (\(extras.joined(separator: ", ")))"), rate within phases \(lrSchedule.argument), batch \(batchSize), seed \(seed), output \(output)")
    }

    /// Times a batch through the frozen base and one training step of the first phase that trains the
    /// base (weights untouched: gradients are computed, not applied), and reads the peak memory so far.
    private func printEstimate(model: Model, train: FolderImages, validation: Int, recipe: Recipe) throws {
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
        var parts: [String] = []
        if recipe.phases.contains(where: { $0.deepestGroup == Head.group }) {
            parts.append(String(format: "base features for the head phases once, about %.1f s", forward * Double(train.count * views + validation)))
        }
        if let phase = recipe.phases.first(where: { $0.deepestGroup != Head.group }) {
            let layers = try base!.layerGroups.withHead.trainableLayers(from: phase.deepestGroup, in: model)
            let training = try GraphTraining(model: model, trainableLayers: layers)
            var context = TrainingContext(seed: 0)
            let loss = train.multiLabel ? Loss(.sigmoidBinaryCrossEntropy) : Loss(.softmaxCrossEntropy)
            let step = try seconds { _ = try training.lossAndGradients(x, targets, loss: loss, context: &context) }
            let epoch = step * Double((train.count + batchSize - 1) / batchSize) + forward * Double(validation)
            parts.append("epochs from \(phase.deepestGroup) on about " + String(format: "%.1f s each", epoch))
        }
        parts.append(String(format: "peak memory about %.1f GB", peakMemoryGB()))
        print("  estimate: " + parts.joined(separator: "; "))
    }

    /// A base trained from scratch has no pretrained features or statistics to protect: it learns at the
    /// full rate and its BatchNorm layers normalise with batch statistics, as in Keras' `fit`.
    private var fromScratch: Bool { weights == "none" }
    private var baseRateFactor: Float { baseLrMult ?? Self.defaultBaseRateFactor(weights: weights) }
    static func defaultBaseRateFactor(weights: String) -> Float { weights == "none" ? 1 : 0.1 }
    private var batchNormTrains: Bool { trainBn ?? fromScratch }

    private func flagRecord() -> [String: String] {
        ["weights": weights, "schedule": schedule ?? "freeze \(headEpochs) of \(totalEpochs)", "lr": "\(lr)", "lr_schedule": lrSchedule.argument,
         "base_lr_mult": "\(baseRateFactor)", "optimizer": optimizer.rawValue, "momentum": "\(momentum ?? 0)",
         "weight_decay": "\(weightDecay ?? OptimizerSettings(optimizer).weightDecay)", "clip_norm": clipNorm.map { "\($0)" } ?? "none", "batch_size": "\(batchSize)",
         "train_bn": "\(batchNormTrains)", "label_smoothing": "\(labelSmoothing)", "augment": augment.rawValue, "seed": "\(seed)", "data": data ?? ""]
    }
}

/// Folder images seen by the fine-tuner: a subset (the training or validation split), preprocessed,
/// with `views` seeded augmented versions of each.
struct FolderImages: LabeledImages {
    let folder: ImageFolder
    let indices: [Int]
    let preprocessing: Preprocessing
    /// Multi-hot targets (sigmoid outputs): the CSV layout with several labels on a row, or --multilabel, where
    /// an image of a class folder has that one label.
    let multiLabel: Bool
    var augmentation = Augmentation()
    var views = 0
    var seed: UInt64 = 0

    var count: Int { indices.count }
    var imageShape: [Int] { [folder.size, folder.size, 3] }
    var augmentedViews: Int { views }

    func batch(_ positions: [Int], view: Int?) throws -> (images: Tensor, targets: Targets) {
        let chosen = positions.map { indices[$0] }
        let x = folder.images(chosen, preprocessing: preprocessing, augmentation: augmentation, seed: seed, view: view)
        return (x, multiLabel ? .multiHot(folder.multiHot(chosen)) : .classes(chosen.map { folder.labels[$0] }))
    }

    /// Images per class; an image with several labels counts in each of its classes.
    var labelCounts: [Int] {
        var counts = [Int](repeating: 0, count: folder.classes.count)
        for i in indices { for label in folder.labelSets[i] { counts[label] += 1 } }
        return counts
    }
}

/// Ctrl-C, SIGTERM and a hang-up (the terminal or ssh session closed) ask the run to stop at the next step and
/// save its state instead of killing it.
final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    private var sources: [DispatchSourceSignal] = []

    init() {
        // Output piped to a reader that quit must not kill the run either; the writes just fail.
        signal(SIGPIPE, SIG_IGN)
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                self.flag = true
                self.lock.unlock()
                Console.standardError("\nstopping after this step; saving a resumable state…\n")
            }
            source.resume()
            sources.append(source)
        }
    }

    func requested() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return flag
    }
}

/// A step counter that rewrites one terminal line; silent when output is not a terminal.
struct ProgressLine {
    private let terminal = isatty(STDOUT_FILENO) != 0
    private var shown = false

    mutating func show(_ text: String) {
        guard terminal else { return }
        Console.standardOutput("\r\(text)\u{1B}[K")
        shown = true
    }

    /// A 20-character bar for `done` of `total`.
    static func bar(_ done: Int, of total: Int) -> String {
        let filled = total > 0 ? done * 20 / total : 20
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled) + "]"
    }

    mutating func finish() {
        if shown { Console.standardOutput("\r\u{1B}[K") }
        shown = false
    }
}

/// steps.csv in the run folder: every training step's rate, loss and gradient norm, where a loss spike shows.
/// A resumed run keeps the rows before its resume point and drops any written after it (by a killed run).
final class StepLog {
    static let header = "phase,epoch,step,learning_rate,loss,gradient_norm\n"
    private let url: URL
    private var file: FileHandle?

    init(directory: URL, resumingAt position: RunPosition?) {
        url = directory.appendingPathComponent("steps.csv")
        var kept = Self.header
        if let position, let text = try? String(contentsOf: url, encoding: .utf8) {
            let before = (position.phase, position.epoch, position.step)
            for row in text.split(separator: "\n").dropFirst() {
                let fields = row.split(separator: ",").prefix(3).compactMap { Int($0) }
                if fields.count == 3, (fields[0] - 1, fields[1] - 1, fields[2] - 1) < before { kept += row + "\n" }
            }
        }
        do {
            try DurableFile.write(kept, to: url)
            file = try FileHandle(forWritingTo: url)
            try file?.seekToEnd()
        } catch {
            log("could not write \(url.path) (\(error)); training goes on without the per-step log")
        }
    }

    func append(phase: Int, epoch: Int, step: Int, learningRate: Float, loss: Float, gradientNorm: Float) {
        guard let file else { return }
        do {
            try file.write(contentsOf: Data("\(phase + 1),\(epoch + 1),\(step + 1),\(learningRate),\(loss),\(gradientNorm)\n".utf8))
        } catch {
            log("could not append to \(url.path) (\(error)); the per-step log stops here")
            self.file = nil
        }
    }
}

/// history.csv and history.json in the run folder.
final class HistoryWriter {
    private let directory: URL
    private var records: [EpochRecord]

    init(directory: URL, records: [EpochRecord] = []) {
        self.directory = directory
        self.records = records
    }

    func append(_ record: EpochRecord) throws {
        records.append(record)
        try write()
    }

    static func line(_ r: EpochRecord) -> String {
        var text = String(format: "  phase %d epoch %d: loss %.4f accuracy %.4f", r.phase + 1, r.epoch + 1, r.loss, r.accuracy)
        if let loss = r.validationLoss, let accuracy = r.validationAccuracy {
            text += String(format: ", validation loss %.4f accuracy %.4f", loss, accuracy)
        }
        return text + String(format: ", lr %.2g, %.1f s, %.1f images/s", r.learningRate, r.seconds, r.imagesPerSecond)
    }

    func write() throws {
        var csv = "phase,epoch,learning_rate,loss,accuracy,validation_loss,validation_accuracy,seconds,images_per_second\n"
        for r in records {
            csv += "\(r.phase + 1),\(r.epoch + 1),\(r.learningRate),\(r.loss),\(r.accuracy),"
            csv += "\(r.validationLoss.map { "\($0)" } ?? ""),\(r.validationAccuracy.map { "\($0)" } ?? ""),\(r.seconds),\(r.imagesPerSecond)\n"
        }
        try DurableFile.write(csv, to: directory.appendingPathComponent("history.csv"))
        try writeJSON(records, to: directory.appendingPathComponent("history.json"))
    }
}

func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try DurableFile.write(encoder.encode(value), to: url)
}

/// The file lists of a run's split (split.json). A resumed run trains and validates on exactly these
/// files, even when the data folder gained or lost images since.
struct SavedSplit: Codable {
    var train: [String]
    var validation: [String]

    init(train: [String], validation: [String]) {
        (self.train, self.validation) = (train, validation)
    }

    init(_ url: URL) throws {
        do {
            self = try JSONDecoder().decode(Self.self, from: Data(contentsOf: url))
        } catch {
            throw ModelError("\(url.path) cannot be read (\(error)); it holds the run's split, so the run cannot resume without it")
        }
    }

    /// A file's name below the data folder (`--data`): the split stays valid when the run resumes from
    /// another directory. Older splits list whole paths; those still match when the data path is the same.
    static func name(_ path: String, below data: String) -> String {
        let root = data.hasSuffix("/") ? String(data.dropLast()) : data
        return path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
    }

    /// Positions of the listed files in the folders as read now; files gone since are reported and left out.
    func indices(train folder: ImageFolder, validation validationFolder: ImageFolder, below data: String) throws -> (train: [Int], validation: [Int]) {
        func positions(_ listed: [String], in folder: ImageFolder) -> [Int] {
            let names = listed.map { Self.name($0, below: data) }
            let index = Dictionary(folder.files.indices.map { (Self.name(folder.files[$0], below: data), $0) }, uniquingKeysWith: { first, _ in first })
            let missing = names.filter { index[$0] == nil }
            if let first = missing.first {
                log("\(missing.count) files of the saved split cannot be used any more (the first: \(first)); the run goes on without them")
            }
            return names.compactMap { index[$0] }
        }
        let result = (train: positions(train, in: folder), validation: positions(validation, in: validationFolder))
        let taken = Set(result.train.map { folder.files[$0] } + result.validation.map { validationFolder.files[$0] })
        let added = (folder.files + (validationFolder.files == folder.files ? [] : validationFolder.files)).filter { !taken.contains($0) }
        if let first = added.first {
            log("\(added.count) files are not in the saved split (the first: \(first)); the resumed run leaves them out")
        }
        guard !result.train.isEmpty else { throw ModelError("none of the training files in the saved split can be read any more") }
        return result
    }
}
