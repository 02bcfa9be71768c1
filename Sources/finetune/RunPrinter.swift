import ArgumentParser
import Core
import FineTune
import Foundation
import Zoo

/// Prints a training run as it goes: the plan, a progress line, one line per epoch, and how it ended; and
/// turns the library's errors and notes into the command's words (its flags, its exit codes).
struct RunPrinter {
    private var steps = ProgressLine()
    private var phaseCount = 0
    /// The phase trains from cached base features: its rate counts features, not images through the base.
    private var cachedPhase = false
    private var batchSize = 32

    /// Runs `run` to its end, printing; a stop request saves the state and exits with 130.
    @discardableResult
    /// `keepsCheckpoints` false: a search trial, whose checkpoints the search removes, so they go unnamed.
    static func train(_ run: TrainingRun, resume: Bool, keepsCheckpoints: Bool = true) throws -> RunResult {
        var printer = RunPrinter()
        printer.batchSize = run.configuration.batchSize
        printer.phaseCount = run.configuration.phases.count
        let stop = StopRequest()
        // Under mpirun rank 0 alone prints; every process names itself in an error, so a failing one is known.
        let rank = run.collective?.rank ?? 0
        let result: RunResult
        do {
            result = try run.run(resume: resume, events: { if rank == 0 { try printer.show($0) } }, shouldStop: stop.requested)
        } catch let error as RunError {
            printer.steps.finish()
            throw CommandError(processName(run) + describe(error))
        } catch where run.collective != nil {
            throw CommandError(processName(run) + "\(CommandWords.translate(error))")
        }
        let output = run.folder.path
        if rank != 0 {
            if case .stopped = result { throw ExitCode(130) }
            return result
        }
        switch result {
        case .stopped(let position):
            printer.steps.finish()
            print("interrupted in phase \(position.phase + 1), epoch \(position.epoch + 1), step \(position.step + 1); state saved to \(run.folder.resumeState.path). Continue with: finetune train --resume \(output)")
            throw ExitCode(130)
        case .finished(let best, let validated, _, let skipped, let reportWritten):
            guard reportWritten else {
                print("stopped before report.html was written; the run had finished: checkpoints in \(output)/best.h5 and \(output)/last.h5")
                throw ExitCode(130)
            }
            // Without held-out images best.h5 is the epoch with the best training figure; say so rather than call it validation.
            let monitor = run.configuration.monitor
            let quantity = monitor == .validationLoss ? "loss" : "accuracy"
            let value = best.map { monitor == .validationLoss ? -monitor.score($0) : monitor.score($0) } ?? .nan
            let bestScore = (validated ? "best validation \(quantity)" : "best training \(quantity) (no validation images)")
                + " \(String(format: "%.4f", value))"
            print(keepsCheckpoints ? "\(bestScore); checkpoints in \(output)/best.h5 and \(output)/last.h5" : bestScore)
            if !skipped.isEmpty {
                print("skipped \(counted(skipped.count, "file")) that cannot be used (all listed in \(output)/skipped.json):")
                for skip in skipped.prefix(20) { print("  \(skip.path): \(skip.reason)") }
                if skipped.count > 20 { print("  … and \(skipped.count - 20) more") }
            }
        }
        return result
    }

    /// "rank R of N: " under mpirun, nothing for one process.
    private static func processName(_ run: TrainingRun) -> String {
        run.collective.map { "rank \($0.rank) of \($0.size): " } ?? ""
    }

    private static func describe(_ error: RunError) -> String {
        switch error {
        case .cannotSave(_, _, _, let folder, let resumable):
            "\(error)" + (resumable ? "; make room, then continue from the last saved epoch with: finetune train --resume \(folder)" : "")
        case .unusableFiles:
            "--strict: \(error), or train without --strict to skip them"
        case .multiLabelClassWeights:
            "--class-weights applies to single-label data only"
        default:
            "\(error)"
        }
    }

    private mutating func show(_ event: RunEvent) throws {
        switch event {
        case .note(let note): log(Self.text(note))
        case .plan(let plan): Self.printPlan(plan)
        case .estimate(let estimate): Self.printEstimate(estimate)
        case .training(let event): show(event)
        case .reportWritten(let url): print("report: \(url.path)")
        }
    }

    private var unit: String { cachedPhase ? "features" : "images" }

    private mutating func show(_ event: FineTuneEvent) {
        switch event {
        case .phaseStarted(let index, let phase, let count, let cached):
            steps.finish()
            cachedPhase = cached
            print("phase \(index + 1)/\(phaseCount): \(phase.deepestGroup) for \(counted(phase.epochs, "epoch")) at \(phase.learningRate), \(count) trainable parameters\(cached ? " (from cached base features)" : "")")
        case .step(_, let epoch, let step, let total, let loss, _, _, let accuracy, let rate):
            let left = Double(total - step - 1) * Double(batchSize) / max(rate, 1e-9)
            steps.show(ProgressLine.bar(step + 1, of: total) + " epoch \(epoch + 1) [\(step + 1)/\(total)] "
                       + String(format: "loss %.4f accuracy %.3f, %.1f %@/s, ETA %.0f s", loss, accuracy, rate, unit, left))
        case .epochEnded(let r, _):
            steps.finish()
            var text = String(format: "  phase %d epoch %d: loss %.4f accuracy %.4f", r.phase + 1, r.epoch + 1, r.loss, r.accuracy)
            if let loss = r.validationLoss, let accuracy = r.validationAccuracy {
                text += String(format: ", validation loss %.4f accuracy %.4f", loss, accuracy)
            }
            print(text + String(format: ", lr %.2g, %.1f s, %.1f %@/s", r.learningRate, r.seconds, r.imagesPerSecond, unit))
        case .earlyStop(let phase, let epoch):
            print("early stop in phase \(phase + 1) after epoch \(epoch + 1)")
        }
    }

    private static func text(_ note: RunNote) -> String {
        switch note {
        case .reading(let data, let size): "reading \(data) at \(size)x\(size)"
        case .weightsLoaded(let summary, let path): "\(summary) from \(path)"
        case .weightsDownload(let message): message
        case .skipped(let skip): "skipped \(skip.path): \(skip.reason)"
        case .badFile(let skip): "bad file \(skip.path): \(skip.reason)"
        case .validationShareUnused: "warning: --val-split is ignored: the data comes with its own validation folder"
        case .warmupFillsPhase(let warmup, let phase):
            "warning: the cosine warm-up of \(counted(warmup, "epoch")) fills phase \(phase.deepestGroup) (\(counted(phase.epochs, "epoch"))): its rate never decays"
        case .splitFilesGone(let count, let first): "\(count) files of the saved split cannot be used any more (the first: \(first)); the run goes on without them"
        case .splitFilesNew(let count, let first): "\(count) files are not in the saved split (the first: \(first)); the resumed run leaves them out"
        case .stepLogFailed(let why): why
        case .imageReplaced(let failure):
            if let replacement = failure.replacement {
                "warning: \(failure.path) cannot be read any more (\(failure.reason)); \(replacement) takes its place"
            } else {
                "warning: \(failure.path) cannot be read any more (\(failure.reason)) and no other image of its class can; it is left black"
            }
        }
    }

    private static func printPlan(_ plan: RunPlan) {
        let config = plan.configuration
        let kind = plan.multiLabel ? "multi-label (sigmoid outputs; a class is predicted at probability \(Prediction.multiLabelThreshold) or more)"
            : "single-label"
        print("plan: \(config.base.rawValue) at \(plan.imageSize)x\(plan.imageSize), \(plan.classes.count) classes, \(plan.trainImages) training and \(plan.validationImages) validation images, \(kind)")
        switch plan.validation {
        case .none: print("  validation: none (best.h5 follows training accuracy)")
        case .givenFolder: print("  validation: the data's own validation folder")
        case .heldOut(let share): print("  validation: " + String(format: "%g%% of each class held out (seeded, stratified; split.json lists them)", share * 100))
        }
        for (index, name) in plan.classes.enumerated() {
            let weight = plan.classWeights.map { String(format: ", loss weight %.3g", $0[index]) } ?? ""
            print("  \(name): \(plan.trainCounts[index]) train, \(plan.validationCounts[index]) validation\(weight)")
        }
        for (index, planned) in plan.phases.enumerated() {
            let phase = planned.phase
            let baseRate = planned.baseRate.map { ", base at " + String(format: "%g", $0) } ?? ""
            print("  phase \(index + 1): \(phase.deepestGroup) for \(counted(phase.epochs, "epoch")) at \(phase.learningRate)\(baseRate), \(planned.trainableParameters) trainable parameters")
        }
        print("  BatchNorm: \(config.batchNormTrains ? "batch statistics in unfrozen groups" : "inference mode throughout (statistics untouched)")")
        if plan.streams {
            print("  images: decoded again for every batch (held in memory they would exceed --image-memory \(Double(config.data.imageMemory) / Double(1 << 30)) GB)")
        }
        let augmentation = config.augmentation
        print("  augmentation: \(augmentation.isIdentity ? "none" : "\(augmentation); head-only phases cache \(config.augmentedViews) views per image")")
        var head = ["dropout \(config.dropout)"]
        if let hidden = config.hidden { head.append("hidden Dense \(hidden)") }
        if config.labelSmoothing > 0 { head.append("label smoothing \(config.labelSmoothing)") }
        if config.data.crop { head.append("images center-cropped to a square") }
        print("  head: " + head.joined(separator: ", "))
        let optimizer = plan.optimizer
        let extras = [optimizer.momentum > 0 ? "momentum \(optimizer.momentum)" : nil,
                      optimizer.weightDecay > 0 ? "weight decay \(optimizer.weightDecay)" : nil,
                      optimizer.globalClipNorm.map { "gradients clipped to norm \($0)" }].compactMap { $0 }
        print("  optimizer \(optimizer.kind.rawValue)\(extras.isEmpty ? "" : " (\(extras.joined(separator: ", ")))"), rate within phases \(config.learningRateSchedule.argument), batch \(config.batchSize), seed \(config.seed), output \(plan.folder)")
    }

    private static func printEstimate(_ estimate: RunEstimate) {
        var parts: [String] = []
        if let seconds = estimate.featureSeconds { parts.append(String(format: "base features for the head phases once, about %.1f s", seconds)) }
        if let (group, seconds) = estimate.epochSeconds { parts.append("epochs from \(group) on about " + String(format: "%.1f s each", seconds)) }
        parts.append(String(format: "peak memory about %.1f GB", estimate.peakMemoryGB))
        print("  estimate: " + parts.joined(separator: "; "))
    }

    /// The train flags that give `config`: how a resumed run says what it continues.
    static func flags(_ config: RunConfiguration) -> [String] {
        let defaults = RunConfiguration(base: config.base, data: .init(path: config.data.path), phases: [], phasesDescription: "")
        var flags = ["--base", config.base.rawValue, "--data", config.data.path, "--weights", config.weights.description,
                     "--schedule", config.phases.map { "\($0.deepestGroup):\($0.epochs)@\($0.learningRate)" }.joined(separator: ",")]
        func add(_ flag: String, _ value: String, unless defaultValue: String) {
            if value != defaultValue { flags += [flag, value] }
        }
        add("--image-size", config.data.imageSize.map(String.init) ?? "", unless: "")
        add("--val-split", "\(config.data.validationShare)", unless: "\(defaults.data.validationShare)")
        add("--lr-schedule", config.learningRateSchedule.argument, unless: "constant")
        add("--base-lr-mult", "\(config.effectiveBaseRateFactor)", unless: "\(defaults.effectiveBaseRateFactor)")
        add("--optimizer", config.optimizer.rawValue, unless: defaults.optimizer.rawValue)
        add("--batch-size", "\(config.batchSize)", unless: "\(defaults.batchSize)")
        add("--dropout", "\(config.dropout)", unless: "\(defaults.dropout)")
        add("--seed", "\(config.seed)", unless: "0")
        add("--monitor", config.monitor.rawValue, unless: defaults.monitor.rawValue)
        add("--precision", config.precision.rawValue, unless: defaults.precision.rawValue)
        return flags
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
