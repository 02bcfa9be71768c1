import Core
import Crypto
import Foundation

/// What `finetune data inspect` reports about a folder-per-class data set (optionally split into
/// train/, val/ and test/ sub-folders).
public struct DataInspection: Codable, Sendable {
    public struct ClassCount: Codable, Sendable {
        public let split: String
        public let name: String
        public let images: Int
    }

    public struct Duplicate: Codable, Sendable {
        public let files: [String]
        /// True when the copies sit in different splits (a leak from training into evaluation).
        public let acrossSplits: Bool
    }

    public var classes: [ClassCount] = []
    public var formats: [String: Int] = [:]
    /// Shortest image edge: minimum, median, maximum.
    public var shortestEdge: [Int] = []
    public var duplicates: [Duplicate] = []
    public var badFiles: [ImageFolder.Skipped] = []
    public var warnings: [String] = []
    /// The splits whose largest class has five times the images of its smallest or more.
    public var imbalancedSplits: [String] = []

    public static let splitNames = ["train", "val", "test"]

    /// Scans `root`: decodes every file once, hashes its bytes, and gathers the figures and warnings.
    public static func inspect(_ root: String) throws -> DataInspection {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue || root.lowercased().hasSuffix(".npz") else {
            throw DataError("\(root) is not a folder; pass a folder with one sub-folder of images per class, the CSV layout, IDX files or an .npz file")
        }
        var report = DataInspection()
        let top = subfolders(root)
        let splits = top.filter { splitNames.contains($0) }
        let roots = splits.isEmpty ? [("all", root)] : splits.map { ($0, "\(root)/\($0)") }
        var edges: [Int] = []
        var byHash: [String: [(split: String, path: String)]] = [:]
        if let arrays = try arrayData(root) { return arrays }
        for (split, folder) in roots {
            for (name, files) in try imagesByClass(folder, report: &report) {
                var count = 0
                for path in files {
                    do {
                        let bytes = try ImageDecoder.read(file: path)
                        report.formats[ImageDecoder.format(of: bytes), default: 0] += 1
                        let image = try ImageDecoder.decode(bytes, name: path)
                        count += 1
                        edges.append(min(image.width, image.height))
                        if bytes.count > 6_000_000 { report.warnings.append("\(path) is \(bytes.count / 1_000_000) MB; large files slow decoding") }
                        let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
                        byHash[digest, default: []].append((split, path))
                    } catch {
                        report.badFiles.append(ImageFolder.Skipped(path: path, reason: "\(error)"))
                    }
                }
                report.classes.append(ClassCount(split: split, name: name, images: count))
                if count < 30 { report.warnings.append("class \(name) (\(split)) has \(count) images; fewer than 30 rarely trains well") }
            }
        }
        edges.sort()
        if let first = edges.first, let last = edges.last {
            report.shortestEdge = [first, edges[edges.count / 2], last]
            let small = edges.filter { $0 < 256 }.count
            if small > 0 { report.warnings.append("\(small) images have a shortest edge under 256 px; upscaling to the model's size blurs them") }
        }
        report.duplicates = byHash.values.filter { $0.count > 1 }.map { copies in
            Duplicate(files: copies.map(\.path).sorted(), acrossSplits: Set(copies.map(\.split)).count > 1)
        }.sorted { $0.files[0] < $1.files[0] }
        for duplicate in report.duplicates where duplicate.acrossSplits {
            report.warnings.append("the same image is in several splits: \(duplicate.files.joined(separator: ", "))")
        }
        for split in Set(report.classes.map(\.split)) {
            let counts = report.classes.filter { $0.split == split }.map(\.images).filter { $0 > 0 }
            if let low = counts.min(), let high = counts.max(), high >= 5 * low {
                report.warnings.append("heavy class imbalance in \(split): \(high) against \(low) images; consider weighting the loss by class")
                report.imbalancedSplits.append(split)
            }
        }
        return report
    }

    /// Each class's image files: a class sub-folder's files, or the files the CSV layout's rows give the class
    /// (an image with several labels is in each of its classes).
    private static func imagesByClass(_ folder: String, report: inout DataInspection) throws -> [(name: String, files: [String])] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        if entries.contains("images"), entries.contains(where: { $0.lowercased().hasSuffix(".csv") }) {
            let table = try ImageFolder(root: folder, size: 1, memoryBudget: 0)
            report.badFiles += table.skipped
            return table.classes.indices.map { label in
                (table.classes[label], table.files.indices.filter { table.labelSets[$0].contains(label) }.map { table.files[$0] })
            }
        }
        let classes = subfolders(folder)
        if classes.isEmpty { report.warnings.append("\(folder) has no class sub-folders") }
        return classes.map { name in
            let classFolder = "\(folder)/\(name)"
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: classFolder)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
            if files.isEmpty { report.badFiles.append(ImageFolder.Skipped(path: classFolder, reason: "empty class folder")) }
            return (name, files.map { "\(classFolder)/\($0)" })
        }
    }

    /// An `.npz` archive or an IDX folder: images per class in each of its sets (IDX: train and t10k).
    private static func arrayData(_ root: String) throws -> DataInspection? {
        let sets: [(String, ImageFolder)]
        if root.lowercased().hasSuffix(".npz") {
            sets = [("all", try ImageFolder.npz(root, size: 1, memoryBudget: 0))]
        } else {
            sets = try ["train", "t10k"].compactMap { prefix in try ImageFolder.idx(root: root, prefix: prefix, size: 1, memoryBudget: 0).map { (prefix, $0) } }
            if sets.isEmpty { return nil }
        }
        var report = DataInspection()
        report.formats[root.lowercased().hasSuffix(".npz") ? "npz arrays" : "IDX arrays"] = sets.reduce(0) { $0 + $1.1.count }
        for (split, set) in sets {
            for (label, name) in set.classes.enumerated() {
                let count = set.labels.filter { $0 == label }.count
                report.classes.append(ClassCount(split: split, name: name, images: count))
                if count < 30 { report.warnings.append("class \(name) (\(split)) has \(count) images; fewer than 30 rarely trains well") }
            }
        }
        return report
    }

    private static func subfolders(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { name in
            var isDirectory: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(path)/\(name)", isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
    }
}

/// Why a path could not be read as a file.
func unreadableReason(_ path: String) -> String {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
        return isDirectory.boolValue ? "a folder where an image was expected" : "not readable (check its permissions)"
    }
    let link = try? FileManager.default.destinationOfSymbolicLink(atPath: path)
    return link != nil ? "a broken or looping symbolic link" : "cannot be read"
}
