import ArgumentParser
import Converters
import DataParallel
import Core
import FineTune
import Foundation
import ImageData
import KerasFiles
import Zoo

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
        history.csv, history.json, steps.csv, split.json (the validation split), skipped.json (unreadable files), and \
        report.html (curves, per-class metrics, confusion matrix, validation images; opens from disk) with \
        loss.png and accuracy.png.
        Ctrl-C, SIGTERM or a closed terminal (SIGHUP) stops at the next step and saves resume.h5 (weights, optimizer state, schedule \
        position, random state, the run's settings); `finetune train --resume DIR` continues the run with its own settings and \
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

    @Option(name: .long, help: "Continue the interrupted or killed run in this folder (its resume.h5), with its own settings.")
    var resume: String?

    @Option(name: .long, help: ArgumentHelp("Base weights: 'imagenet' (the zoo cache), an HDF5 file of the base without top, or 'none'.", valueName: "imagenet|FILE|none"))
    var weights: RunConfiguration.Weights = .imagenet

    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Phases") var schedule: ScheduleOptions
    @OptionGroup(title: "Optimizer and loss") var optimizer: OptimizerOptions
    @OptionGroup(title: "Head") var head: HeadArguments
    @OptionGroup(title: "Augmentation") var augmentation: AugmentationOptions
    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup var precision: PrecisionOptions

    @Option(name: .long, parsing: .unconditional, help: "Threads for the math (default: every core).")
    var threads: Int?

    func validate() throws {
        if let resume {
            // A resumed run continues with the settings it started with: any other flag would be ignored.
            guard values == (try Self.defaultValues) else {
                throw ValidationError("--resume takes no other flags: the run continues with the settings it started with")
            }
            return
        }
        guard let base else { throw ValidationError("--base is required (\(Architecture.allCases.map(\.rawValue).joined(separator: ", ")))") }
        guard data.data != nil else { throw ValidationError("--data is required: a folder with one sub-folder of images per class") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
        if schedule.schedule != nil { _ = try schedule.phases(base: base, learningRate: optimizer.lr) }
        try validateImageSize(data.imageSize, base: base)
    }

    /// Every setting's value as given, to tell a flag given beside --resume.
    private var values: [String] {
        ["\(base as Any)", weights.description, "\(threads as Any)"] + data.values + schedule.values + optimizer.values + head.values
            + augmentation.values + output.values + precision.values
    }

    /// The values when no flag is given.
    private static var defaultValues: [String] {
        get throws {
            ["\(Architecture?.none as Any)", RunConfiguration.Weights.imagenet.description, "\(Int?.none as Any)"]
                + (try DataOptions.parse([])).values + (try ScheduleOptions.parse([])).values + (try OptimizerOptions.parse([])).values
                + (try HeadArguments.parse([])).values + (try AugmentationOptions.parse([])).values + (try OutputOptions.parse([])).values
                + (try PrecisionOptions.parse([])).values
        }
    }

    /// The run these flags describe.
    func runConfiguration() throws -> RunConfiguration {
        let base = base!
        let (phases, description) = try schedule.phases(base: base, learningRate: optimizer.lr)
        var config = RunConfiguration(base: base, data: data.configuration(data.data!), phases: phases, phasesDescription: description)
        config.weights = weights
        config.learningRateSchedule = schedule.lrSchedule
        config.earlyStopping = schedule.earlyStopping
        config.monitor = schedule.monitor
        optimizer.apply(to: &config)
        (config.dropout, config.hidden) = (head.dropout, head.hidden)
        config.augmentation = augmentation.settings
        config.augmentedViews = augmentation.augmentViews
        config.precision = precision.precision
        return config
    }

    /// The new run's folder, made by rank 0 alone under mpirun and told to the other processes.
    private func runFolder() throws -> String {
        guard let processes else { return try output.folder(named: base!.rawValue, files: RunDirectory.trainingFiles) }
        var bytes = processes.rank == 0 ? Array(try output.folder(named: base!.rawValue, files: RunDirectory.trainingFiles).utf8).map(Float.init) : []
        var length = [Float(bytes.count)]
        processes.broadcast(&length)
        bytes += [Float](repeating: 0, count: Int(length[0]) - bytes.count)
        processes.broadcast(&bytes)
        return String(decoding: bytes.map { UInt8($0) }, as: UTF8.self)
    }

    /// Flags given that this run cannot use, said before it starts rather than ignored in silence.
    private var ignoredFlags: [String] {
        guard schedule.schedule != nil, schedule.epochs != nil || schedule.freezeEpochs != nil else { return [] }
        return ["--epochs and --freeze-epochs are ignored: --schedule sets the phases"]
    }

    func run() throws {
        if let threads { setenv("OMP_NUM_THREADS", "\(threads)", 1) }
        guard let resume else {
            let folder = RunFolder(try runFolder())
            for note in ignoredFlags { log("warning: \(note)") }
            let config = try runConfiguration()
            announce(config.precision)
            try RunPrinter.train(TrainingRun(config, folder: folder, collective: processes), resume: false)
            return
        }
        let folder = RunFolder(resume)
        switch try folder.savedStart() {
        case .configuration(let config):
            if processes?.rank ?? 0 == 0 { log("resuming \(resume) with: \(RunPrinter.flags(config).joined(separator: " "))") }
            announce(config.precision)
            try RunPrinter.train(TrainingRun(config, folder: folder, collective: processes), resume: true)
        case .arguments(let arguments):
            // A state saved by an older version, from its command line.
            log("resuming \(resume) with: \(arguments.joined(separator: " "))")
            try RunPrinter.train(TrainingRun(try TrainCommand.parse(arguments).runConfiguration(), folder: folder, collective: processes), resume: true)
        }
    }
}
