import ArgumentParser
import Core
import FineTune
import Foundation
import KerasFiles
import Zoo

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Try learning rates, batch sizes, dropouts and base multipliers; keep the best run.",
        discussion: """
        Each trial is a `finetune train` run (same data split and seed) into OUTPUT/trial-N. The grid is \
        every combination of the listed values; --random N tries N of them picked with --seed. Results \
        go to OUTPUT/results.csv and results.json sorted by best validation accuracy; the best trial's \
        checkpoint is kept as OUTPUT/best.h5 and the other trials' checkpoints are removed.
        Examples:
          finetune search --base resnet50 --data flowers/ --lr 1e-4,1e-3 \\
              --dropout 0,0.3 --epochs 4
          finetune search --base xception --data flowers/ --lr 3e-5,1e-4,3e-4,1e-3 \\
              --base-lr-mult 0.1,0.3 --random 4
        """)

    @Option(name: .long, help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var base: Architecture

    @Option(name: .long, help: ArgumentHelp("Base weights, as for train.", valueName: "imagenet|FILE|none"))
    var weights: RunConfiguration.Weights = .imagenet

    @OptionGroup(title: "Data") var data: DataOptions

    @Option(name: .long, help: "Learning rates to try (comma-separated).")
    var lr: String = "1e-3"

    @Option(name: .long, help: "Batch sizes to try.")
    var batchSize: String = "32"

    @Option(name: .long, help: "Dropouts to try.")
    var dropout: String = "0.2"

    @Option(name: .long, help: "Base learning-rate multipliers to try (default as in train: 0.1, or 1 with --weights none).")
    var baseLrMult: String?

    @Option(name: .long, parsing: .unconditional, help: "Epochs per trial.")
    var epochs: Int = 4

    @Option(name: .long, parsing: .unconditional, help: "Head-only epochs at the start of each trial.")
    var freezeEpochs: Int = 2

    @Option(name: .long, parsing: .unconditional, help: "Try this many combinations picked at random instead of the whole grid.")
    var random: Int?

    @Option(name: .long, help: "Seed of the split, the trials' runs and the random pick.")
    var seed: UInt64 = 0

    @OptionGroup(title: "Output") var output: OutputOptions
    @OptionGroup var precision: PrecisionOptions

    /// A trial's settings; everything else is the same in every trial.
    private var baseConfiguration: RunConfiguration {
        var config = RunConfiguration(base: base, data: data.configuration(data.data!), phases: [],
                                      phasesDescription: "freeze \(freezeEpochs) of \(epochs)")
        config.weights = weights
        config.seed = seed
        config.precision = precision.precision
        return config
    }

    private var multipliers: String { baseLrMult ?? "\(baseConfiguration.effectiveBaseRateFactor)" }

    struct Trial: Codable {
        let trial: Int
        let learningRate: Float
        let batchSize: Int
        let dropout: Float
        let baseLearningRateMultiplier: Float
        var validationAccuracy: Float = 0
        var validationLoss: Float?
        var seconds: Double = 0
    }

    private func values<T: LosslessStringConvertible>(_ text: String, _ flag: String) throws -> [T] {
        let parsed = text.split(separator: ",").map { T(String($0).trimmingCharacters(in: .whitespaces)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else {
            throw ValidationError("\(flag) takes comma-separated numbers, got '\(text)'")
        }
        return parsed.map { $0! }
    }

    func validate() throws {
        guard data.data != nil else { throw ValidationError("--data is required: a folder with one sub-folder of images per class") }
        let _: [Float] = try values(lr, "--lr")
        let _: [Int] = try values(batchSize, "--batch-size")
        let _: [Float] = try values(dropout, "--dropout")
        let _: [Float] = try values(multipliers, "--base-lr-mult")
        if epochs < 1 || freezeEpochs < 0 || freezeEpochs > epochs {
            throw ValidationError("--epochs must be at least 1 and --freeze-epochs between 0 and --epochs")
        }
        if let random, random < 1 { throw ValidationError("--random must be at least 1") }
        try validateImageSize(data.imageSize, base: base)
    }

    func run() throws {
        announce(precision.precision)
        var grid: [Trial] = []
        for rate: Float in try values(lr, "--lr") {
            for batch: Int in try values(batchSize, "--batch-size") {
                for drop: Float in try values(dropout, "--dropout") {
                    for multiplier: Float in try values(multipliers, "--base-lr-mult") {
                        grid.append(Trial(trial: grid.count + 1, learningRate: rate, batchSize: batch, dropout: drop,
                                          baseLearningRateMultiplier: multiplier))
                    }
                }
            }
        }
        if let random, random < grid.count {
            var rng = SeededGenerator(seed: seed)
            grid = Array(grid.shuffled(using: &rng).prefix(random))
        }
        let root = URL(fileURLWithPath: try output.folder(named: "search", files: RunDirectory.searchFiles))
        print("search: \(counted(grid.count, "trial")) of \(counted(epochs, "epoch")) on \(data)")
        var results: [Trial] = []
        for var trial in grid {
            let folder = root.appendingPathComponent("trial-\(trial.trial)").path
            print("trial \(trial.trial): lr \(trial.learningRate), batch \(trial.batchSize), dropout \(trial.dropout), base-lr-mult \(trial.baseLearningRateMultiplier)")
            var config = baseConfiguration
            config.phases = RunConfiguration.phases(epochs: epochs, headEpochs: freezeEpochs, learningRate: trial.learningRate)
            (config.batchSize, config.dropout, config.baseRateFactor) = (trial.batchSize, trial.dropout, trial.baseLearningRateMultiplier)
            let start = Date()
            let result = try RunPrinter.train(TrainingRun(config, folder: RunFolder(folder)), resume: false, keepsCheckpoints: false)
            trial.seconds = Date().timeIntervalSince(start)
            if case .finished(let best?, _, _, _, _) = result {
                trial.validationAccuracy = best.validationAccuracy ?? best.accuracy
                trial.validationLoss = best.validationLoss
            }
            results.append(trial)
        }
        results.sort { $0.validationAccuracy > $1.validationAccuracy }
        var csv = "trial,learning_rate,batch_size,dropout,base_lr_mult,validation_accuracy,validation_loss,seconds\n"
        print("\nresults (best first):")
        print("trial        lr  batch  dropout  base-mult  val-acc  val-loss  seconds")
        for r in results {
            csv += "\(r.trial),\(r.learningRate),\(r.batchSize),\(r.dropout),\(r.baseLearningRateMultiplier),\(r.validationAccuracy),\(r.validationLoss.map { "\($0)" } ?? ""),\(r.seconds)\n"
            print(String(format: "%5d %9.2g %6d %8.2f %10.2f %8.4f %9.4f %8.1f", r.trial, r.learningRate, r.batchSize, r.dropout,
                         r.baseLearningRateMultiplier, r.validationAccuracy, r.validationLoss ?? .nan, r.seconds))
        }
        try DurableFile.write(csv, to: root.appendingPathComponent("results.csv"))
        try writeJSON(results, to: root.appendingPathComponent("results.json"))
        guard let winner = results.first else { return }
        let bestPath = root.appendingPathComponent("best.h5")
        try? FileManager.default.removeItem(at: bestPath)
        try FileManager.default.copyItem(atPath: root.appendingPathComponent("trial-\(winner.trial)/best.h5").path, toPath: bestPath.path)
        for r in results {
            for file in ["best.h5", "last.h5"] {
                try? FileManager.default.removeItem(at: root.appendingPathComponent("trial-\(r.trial)/\(file)"))
            }
        }
        print("best: trial \(winner.trial), validation accuracy \(String(format: "%.4f", winner.validationAccuracy)); checkpoint \(bestPath.path)")
    }
}
