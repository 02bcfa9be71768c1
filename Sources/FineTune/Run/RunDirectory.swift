import Core
import Foundation

/// The folders runs write into. A new run never writes over an earlier one unasked: by default it
/// gets a folder of its own, and a folder that holds a run is refused unless the user says to replace it.
public enum RunDirectory {
    /// What a training run writes; a folder holding any of these holds a run.
    public static let trainingFiles = ["best.h5", "last.h5", "resume.h5", "history.csv", "history.json", "steps.csv",
                                       "split.json", "skipped.json", "report.html", "loss.png", "accuracy.png"]
    /// What a search writes beside its `trial-N` folders.
    public static let searchFiles = ["results.csv", "results.json", "best.h5"]

    /// A new folder `parent/name-N` (N one more than the highest there), with `parent/latest` a link to
    /// it, so that `runs/latest` always names the newest run.
    public static func fresh(in parent: String, named name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        let taken = try FileManager.default.contentsOfDirectory(atPath: parent).compactMap { entry -> Int? in
            guard entry.hasPrefix("\(name)-") else { return nil }
            return Int(entry.dropFirst(name.count + 1))
        }
        let folder = "\(name)-\((taken.max() ?? 0) + 1)"
        let path = "\(parent)/\(folder)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        try link(latest: "\(parent)/latest", to: folder)
        return path
    }

    /// Points the link `latest` at `target` (relative to the link's folder), replacing an older link in one
    /// step; a real folder of that name (from an older version of this tool) is left alone.
    private static func link(latest: String, to target: String) throws {
        if let type = try? FileManager.default.attributesOfItem(atPath: latest)[.type] as? FileAttributeType, type != .typeSymbolicLink {
            return
        }
        let temporary = "\(latest).\(ProcessInfo.processInfo.processIdentifier).tmp"
        try? FileManager.default.removeItem(atPath: temporary)
        guard symlink(target, temporary) == 0, rename(temporary, latest) == 0 else {
            throw TrainingError("cannot point \(latest) at \(target): \(String(cString: strerror(errno)))")
        }
    }

    /// Makes `path` ready for a new run: created if missing; refused if it holds an earlier run's files
    /// (named in `files`, or `trial-N` folders of a search) unless `replace`, which removes exactly those.
    public static func claim(_ path: String, files: [String], replace: Bool) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let entries = try FileManager.default.contentsOfDirectory(atPath: path)
        let earlier = entries.filter { files.contains($0) || ($0.hasPrefix("trial-") && Int($0.dropFirst(6)) != nil) }.sorted()
        guard !earlier.isEmpty else { return }
        guard replace else {
            throw RunDirectoryError.holdsRun(path: path, interrupted: entries.contains("resume.h5"), files: earlier)
        }
        for entry in earlier { try FileManager.default.removeItem(atPath: "\(path)/\(entry)") }
    }
}

/// A folder that already holds a run (interrupted: it can be resumed), and the earlier run's files there.
public enum RunDirectoryError: UserFacingError, Equatable {
    case holdsRun(path: String, interrupted: Bool, files: [String])

    public var description: String {
        switch self {
        case .holdsRun(let path, let interrupted, let files):
            "\(path) holds " + (interrupted ? "an interrupted run, which can be resumed" : "an earlier run (\(files.prefix(3).joined(separator: ", ")))")
                + "; choose another folder, or replace that run's files"
        }
    }
}
