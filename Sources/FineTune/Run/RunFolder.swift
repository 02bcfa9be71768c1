import Core
import Foundation
import KerasFiles

/// The folder a training run writes, and the files in it.
public struct RunFolder: Sendable {
    public let url: URL
    /// The folder as it was named (relative paths stay relative in what the run prints).
    public let path: String

    public init(_ path: String) {
        self.path = path
        url = URL(fileURLWithPath: path)
    }
    public var best: URL { url.appendingPathComponent("best.h5") }
    public var last: URL { url.appendingPathComponent("last.h5") }
    /// Weights, optimizer state, position and configuration of a run that stopped, or of the last finished epoch.
    public var resumeState: URL { url.appendingPathComponent("resume.h5") }
    public var split: URL { url.appendingPathComponent("split.json") }
    public var skipped: URL { url.appendingPathComponent("skipped.json") }
    public var report: URL { url.appendingPathComponent("report.html") }

    /// A new folder `parent/name-N` with `parent/latest` linked to it.
    public static func fresh(in parent: String, named name: String) throws -> RunFolder {
        RunFolder(try RunDirectory.fresh(in: parent, named: name))
    }

    /// `path`, made ready for a new run; refused when it holds an earlier run unless `replace`.
    public static func claim(_ path: String, replace: Bool) throws -> RunFolder {
        try RunDirectory.claim(path, files: RunDirectory.trainingFiles, replace: replace)
        return RunFolder(path)
    }

    /// What the run's `resume.h5` says it was started with.
    public enum SavedStart {
        case configuration(RunConfiguration)
        /// The command-line arguments that runs saved before configurations were kept.
        case arguments([String])
    }

    static let configurationAttribute = "finetune_configuration"
    static let argumentsAttribute = "finetune_arguments"
    static let positionAttribute = "finetune_position"

    /// How the run in this folder started; throws when there is nothing to resume.
    public func savedStart() throws -> SavedStart {
        guard FileManager.default.fileExists(atPath: resumeState.path) else { throw RunError.nothingToResume(path) }
        if let text = try KerasModelFile.attribute(Self.configurationAttribute, in: resumeState.path) {
            do {
                return .configuration(try JSONDecoder().decode(RunConfiguration.self, from: Data(text.utf8)))
            } catch {
                throw RunError.unreadableState(resumeState.path, "its configuration cannot be read (\(error))")
            }
        }
        if let text = try KerasModelFile.attribute(Self.argumentsAttribute, in: resumeState.path),
           let arguments = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) {
            return .arguments(arguments)
        }
        throw RunError.unreadableState(resumeState.path, "it holds neither a configuration nor saved arguments")
    }
}

/// Why a run could not start, go on or resume.
public enum RunError: UserFacingError {
    /// The folder has no `resume.h5`.
    case nothingToResume(String)
    case unreadableState(String, String)
    /// A file of the run could not be written (a full disk); `resumable` when an earlier `resume.h5` is there.
    case cannotSave(String, phase: Int, epoch: Int, folder: String, resumable: Bool)
    /// Too few classes to train a classifier.
    case tooFewClasses(String, String?)
    /// Files could not be used and the run was asked to be strict.
    case unusableFiles(String, count: Int)
    case multiLabelClassWeights
    /// A data-parallel run resumed with another number of processes than it saved its state with.
    case processCountChanged(String, saved: Int, now: Int)

    public var description: String {
        switch self {
        case .nothingToResume(let folder):
            "\(folder) has no resume.h5: the run there finished, or it is not a training run's folder"
        case .unreadableState(let path, let why):
            "\(path) is not a finetune training state: \(why)"
        case .cannotSave(let error, let phase, let epoch, _, _):
            "\(error). The run stopped after phase \(phase + 1), epoch \(epoch + 1)"
        case .tooFewClasses(let data, let only):
            "\(data) has \(only.map { "one class (\($0))" } ?? "no labelled images"); a classifier needs at least two classes"
        case .unusableFiles(let data, let count):
            "\(count) files in \(data) cannot be used (listed above); fix or remove them"
        case .multiLabelClassWeights:
            "class weights apply to single-label data only"
        case .processCountChanged(let folder, let saved, let now):
            "the run in \(folder) was saved by \(saved) process\(saved == 1 ? "" : "es"), not \(now): resume it with \(saved), since the batch shares, the random state of each process and its checkpoints follow that number"
        }
    }
}

/// steps.csv in the run folder: every training step's rate, loss and gradient norm, where a loss spike shows.
/// A resumed run keeps the rows before its resume point and drops any written after it (by a killed run).
final class StepLog {
    static let header = "phase,epoch,step,learning_rate,loss,gradient_norm\n"
    private let url: URL
    private var file: FileHandle?
    /// Why the log could not be written, once.
    private(set) var failure: String?

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
            failure = "could not write \(url.path) (\(error)); training goes on without the per-step log"
        }
    }

    /// Appends a row; returns why not when the log stops here.
    func append(phase: Int, epoch: Int, step: Int, learningRate: Float, loss: Float, gradientNorm: Float) -> String? {
        guard let file else { return nil }
        do {
            try file.write(contentsOf: Data("\(phase + 1),\(epoch + 1),\(step + 1),\(learningRate),\(loss),\(gradientNorm)\n".utf8))
            return nil
        } catch {
            self.file = nil
            return "could not append to \(url.path) (\(error)); the per-step log stops here"
        }
    }
}

/// history.csv and history.json in the run folder: one row per epoch, with the same names (snake case) and
/// phases and epochs counted from 1 in both.
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

    /// One epoch as the history files write it.
    struct Row: Codable {
        let phase: Int
        let epoch: Int
        let learningRate: Float
        let loss: Float
        let accuracy: Float
        let validationLoss: Float?
        let validationAccuracy: Float?
        let seconds: Double
        let imagesPerSecond: Double

        init(_ r: EpochRecord) {
            (phase, epoch, learningRate, loss, accuracy) = (r.phase + 1, r.epoch + 1, r.learningRate, r.loss, r.accuracy)
            (validationLoss, validationAccuracy, seconds, imagesPerSecond) = (r.validationLoss, r.validationAccuracy, r.seconds, r.imagesPerSecond)
        }

        static let csvHeader = "phase,epoch,learning_rate,loss,accuracy,validation_loss,validation_accuracy,seconds,images_per_second\n"
        var csv: String {
            "\(phase),\(epoch),\(learningRate),\(loss),\(accuracy),\(validationLoss.map { "\($0)" } ?? ""),"
                + "\(validationAccuracy.map { "\($0)" } ?? ""),\(seconds),\(imagesPerSecond)\n"
        }
    }

    func write() throws {
        let rows = records.map(Row.init)
        try DurableFile.write(Row.csvHeader + rows.map(\.csv).joined(), to: directory.appendingPathComponent("history.csv"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try DurableFile.write(encoder.encode(rows), to: directory.appendingPathComponent("history.json"))
    }
}

/// Pretty-printed JSON with sorted keys, written durably.
public func writeJSON<T: Encodable>(_ value: T, to url: URL) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try DurableFile.write(encoder.encode(value), to: url)
}
