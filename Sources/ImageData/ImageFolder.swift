import Core
import Foundation
import SwiftCSV
import Zoo

/// A labelled image set in one of two layouts, classes in name order:
/// - a folder with one sub-folder per class (`flowers/daisy/*.jpg`);
/// - the CSV layout: a folder with a CSV file (file name, then the label, or several labels separated
///   by `;` or `|` for multi-label data, or no label column for a test set) and an `images/` sub-folder.
/// Images are decoded once, resized to the model's input size and kept as bytes while they fit the
/// memory budget; beyond it they are checked once and decoded again for every batch, so memory stays
/// bounded whatever the data set's size. A file that cannot be decoded is skipped and reported, never fatal.
public struct ImageFolder: Sendable {
    public struct Skipped: Sendable, Codable {
        public let path: String
        public let reason: String
    }

    public let root: String
    public let classes: [String]
    public let size: Int
    public internal(set) var files: [String] = []
    /// Each image's classes: one for single-label data, several for multi-label, none for an unlabelled test CSV.
    public internal(set) var labelSets: [[Int]] = []
    /// True for the CSV layout with several labels on some row.
    public private(set) var isMultiLabel = false
    /// The first (for single-label data, the only) class of each image (-1 for none).
    public internal(set) var labels: [Int] = []
    public private(set) var skipped: [Skipped] = []
    /// Streamed images that became unreadable after the data was read, each with what took its place;
    /// shared by copies of this set, so a run can report them as it goes.
    public let lateFailures = LateReadFailures()
    /// Where the decoded images live.
    enum PixelStore: Sendable {
        /// RGB bytes, `size`×`size`, one image after another.
        case memory([UInt8])
        /// Decoded from `files` again whenever a batch needs them.
        case files
        /// Resized from an array (IDX or .npz) again whenever a batch needs them.
        case array(PixelArray)
    }
    var store = PixelStore.memory([])
    /// Decoded images beyond this many bytes are not kept: batches decode them from their files.
    public static let defaultMemoryBudget = 4 << 30
    /// True when images are decoded for each batch instead of held in memory.
    public var streams: Bool { if case .memory = store { false } else { true } }

    /// Center-crop every image to a square before resizing (instead of squeezing its aspect ratio).
    public let cropToSquare: Bool

    /// Reads `root`; with `classes` given (a checkpoint's), its labels must be among them.
    public init(root given: String, size: Int, classes known: [String]? = nil, cropToSquare: Bool = false,
                memoryBudget: Int = defaultMemoryBudget) throws {
        // "flowers/" and "flowers" name the same folder; paths built from it print without "//".
        let root = given.count > 1 && given.hasSuffix("/") ? String(given.reversed().drop { $0 == "/" }.reversed()) : given
        self.cropToSquare = cropToSquare
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DataError("data folder \(root) does not exist; pass a folder with one sub-folder of images per class")
        }
        self.root = root
        self.size = size
        let entries = try FileManager.default.contentsOfDirectory(atPath: root).filter { !$0.hasPrefix(".") }.sorted()
        let csvFiles = entries.filter { $0.lowercased().hasSuffix(".csv") }
        if !csvFiles.isEmpty, entries.contains("images") {
            var table = try Self.readCSV(root: root, files: csvFiles)
            // A row without a label in a labelled table is a mistake to show, not an image to drop in silence;
            // a table with no labels at all is a test set to predict.
            if table.contains(where: { !$0.labels.isEmpty }) {
                for row in table where row.labels.isEmpty {
                    skipped.append(Skipped(path: "\(root)/images/\(row.file)", reason: "its row in the CSV has no label"))
                }
                table.removeAll { $0.labels.isEmpty }
            }
            let found = Array(Set(table.flatMap(\.labels))).sorted()
            classes = try Self.check(found, against: known, root: root)
            isMultiLabel = table.contains { $0.labels.count > 1 }
            decode(table.map { ("\(root)/images/\($0.file)", $0.labels.map { classes.firstIndex(of: $0)! }) }, budget: memoryBudget)
        } else {
            let found = entries.filter { name in
                var sub: ObjCBool = false
                return FileManager.default.fileExists(atPath: "\(root)/\(name)", isDirectory: &sub) && sub.boolValue
            }
            guard !found.isEmpty else {
                throw DataError("data folder \(root) has no class sub-folders and no CSV file with an images/ folder; put each class's images in its own sub-folder")
            }
            classes = try Self.check(found, against: known, root: root)
            var pending: [(String, [Int])] = []
            for name in found {
                let folder = "\(root)/\(name)"
                let images = ((try? FileManager.default.contentsOfDirectory(atPath: folder).sorted()) ?? []).filter { !$0.hasPrefix(".") }
                if images.isEmpty { skipped.append(Skipped(path: folder, reason: "empty class folder")) }
                pending += images.map { ("\(folder)/\($0)", [classes.firstIndex(of: name)!]) }
            }
            decode(pending, budget: memoryBudget)
        }
        guard !files.isEmpty else { throw DataError("no readable images in \(root)") }
    }

    /// Decodes and resizes the files on every core, keeping the bytes when all of them fit `budget`;
    /// a file that cannot be used is recorded with the reason.
    private mutating func decode(_ pending: [(path: String, labels: [Int])], budget: Int) {
        let keep = pending.count * size * size * 3 <= budget
        let outcomes = Self.decodeAll(pending.map(\.path), size: size, crop: cropToSquare, keep: keep)
        var bytes: [UInt8] = []
        for (item, outcome) in zip(pending, outcomes) {
            switch outcome {
            case .success(let image):
                bytes += image
                files.append(item.path)
                labelSets.append(item.labels)
                labels.append(item.labels.first ?? -1)
            case .failure(let error): skipped.append(Skipped(path: item.path, reason: "\(error)"))
            }
        }
        store = keep ? .memory(bytes) : .files
    }

    /// Each file decoded and resized, in parallel; with `keep` false only the outcome is kept, not the bytes.
    private static func decodeAll(_ paths: [String], size: Int, crop: Bool, keep: Bool = true) -> [Result<[UInt8], Error>] {
        final class Results: @unchecked Sendable {
            var slots: [Result<[UInt8], Error>?]
            init(_ count: Int) { slots = Array(repeating: nil, count: count) }
        }
        let results = Results(paths.count)
        let lock = NSLock()
        DispatchQueue.concurrentPerform(iterations: paths.count) { i in
            let outcome = Result {
                let image = try ImageDecoder.decode(file: paths[i])
                let bytes = Self.resized(crop ? image.centerSquare() : image, size: size)
                return keep ? bytes : []
            }
            lock.lock()
            results.slots[i] = outcome
            lock.unlock()
        }
        return results.slots.map { $0! }
    }

    static func resized(_ image: RGBImage, size: Int) -> [UInt8] {
        image.resizedPixels(width: size, height: size).map { UInt8(max(0, min(255, $0.rounded()))) }
    }

    /// RGB bytes of the images at `indices`. When streaming, a file that became unreadable after the
    /// data was read is reported and replaced by the next readable image of the same class, so a long
    /// run keeps going.
    private func pixels(_ indices: [Int]) -> [ArraySlice<UInt8>] {
        switch store {
        case .files:
            return decodeForBatch(indices).map { $0[...] }
        case .array(let array):
            return indices.map { Self.resized(array.image($0), size: size)[...] }
        case .memory(let bytes):
            let stride = size * size * 3
            return indices.map { bytes[($0 * stride)..<(($0 + 1) * stride)] }
        }
    }

    private func decodeForBatch(_ indices: [Int]) -> [[UInt8]] {
        let outcomes = Self.decodeAll(indices.map { files[$0] }, size: size, crop: cropToSquare)
        return zip(indices, outcomes).map { index, outcome in
            switch outcome {
            case .success(let bytes): return bytes
            case .failure(let error): return replacement(for: index, reason: "\(error)")
            }
        }
    }

    private func replacement(for index: Int, reason: String) -> [UInt8] {
        let sameClass = (1..<count).lazy.map { (index + $0) % self.count }.filter { self.labelSets[$0] == self.labelSets[index] }
        for other in sameClass {
            guard case .success(let bytes) = Self.decodeAll([files[other]], size: size, crop: cropToSquare)[0] else { continue }
            lateFailures.record(LateReadFailure(path: files[index], reason: reason, replacement: files[other]))
            return bytes
        }
        lateFailures.record(LateReadFailure(path: files[index], reason: reason, replacement: nil))
        return [UInt8](repeating: 0, count: size * size * 3)
    }

    private static func check(_ found: [String], against known: [String]?, root: String) throws -> [String] {
        guard let known else {
            guard found.count <= maximumClasses else {
                throw DataError("\(root) has \(found.count) classes; finetune trains at most \(maximumClasses), so merge or remove some")
            }
            return found
        }
        let unknown = found.filter { !known.contains($0) }
        guard unknown.isEmpty else {
            throw DataError("\(root) has classes the model does not know: \(unknown.joined(separator: ", ")); the model knows \(known.joined(separator: ", "))")
        }
        return known
    }

    /// Rows of the CSV layout: a file name and its labels (none in a test set's CSV).
    private static func readCSV(root: String, files: [String]) throws -> [(file: String, labels: [String])] {
        let name = files.first { $0.lowercased() == "labels.csv" } ?? files[0]
        guard files.count == 1 || name.lowercased() == "labels.csv" else {
            throw DataError("\(root) has several CSV files (\(files.joined(separator: ", "))); name the one with the labels labels.csv")
        }
        let path = "\(root)/\(name)"
        let csv: CSV<Enumerated>
        do {
            csv = try CSV<Enumerated>(url: URL(fileURLWithPath: path), delimiter: .comma)
        } catch {
            throw DataError("\(path) is not a readable CSV file: \(error)")
        }
        guard !csv.header.isEmpty else { throw DataError("\(path) is empty; it needs a header and a row per image") }
        let images = Set((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/images")) ?? [])
        /// The image in images/ a name means; names may come without their extension (Kaggle style).
        func image(_ name: String) -> String? {
            images.contains(name) ? name : ImageDecoder.extensions.map { "\(name).\($0)" }.first(where: images.contains)
        }
        let columns = CSVColumns(header: csv.header)
        // A first line that names an image is a row, not a header.
        let headerless = columns.recognised == false && image(csv.header[0].trimmingCharacters(in: .whitespaces)) != nil
        let rows = (headerless ? [csv.header] : []) + csv.rows
        let firstLine = headerless ? 1 : 2
        return try rows.enumerated().filter { !($0.element[safe: columns.file] ?? "").isEmpty }.map { number, row in
            var file = row[columns.file].trimmingCharacters(in: .whitespaces)
            // A name must stay inside images/: a CSV from elsewhere must not open files anywhere on the machine.
            guard !file.hasPrefix("/"), !file.split(separator: "/").contains("..") else {
                throw DataError("\(path), line \(number + firstLine): '\(file)' points outside \(root)/images; image names in the CSV are relative to images/")
            }
            file = image(file) ?? file
            let labels = columns.label.flatMap { row[safe: $0] }.map {
                $0.split(whereSeparator: { $0 == ";" || $0 == "|" }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            } ?? []
            if let long = labels.first(where: { $0.utf8.count > Self.classNameLimit }) {
                throw DataError("\(path), line \(number + firstLine): a label of \(long.utf8.count) bytes; class names are at most \(Self.classNameLimit) bytes (is the label column right? the header names \(csv.header.joined(separator: ", ")))")
            }
            return (file, labels)
        }
    }

    /// Where the CSV layout's image names and labels are: by the header's names (`file`, `image`, `id`, … and
    /// `label`, `labels`, `class`, `tags`, …) in either order, else the first column and the second.
    struct CSVColumns {
        static let fileNames: Set = ["file", "filename", "file_name", "files", "image", "images", "image_id", "image_name", "img", "path", "id", "name"]
        static let labelNames: Set = ["label", "labels", "class", "classes", "category", "categories", "tag", "tags", "target", "y"]
        var file = 0
        var label: Int? = 1
        var recognised = false

        init(header: [String]) {
            let names = header.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let file = names.firstIndex(where: Self.fileNames.contains) else { return }
            self.file = file
            label = names.firstIndex(where: Self.labelNames.contains)
            recognised = true
        }
    }

    /// Class names become folder names, report headings and checkpoint records: a file system's limit is plenty.
    static let classNameLimit = 255

    public var count: Int { files.count }

    /// `train/` and `val/` (or `validation/`) sub-folders of `root`, when the data comes split already.
    public static func givenSplits(_ root: String) -> (train: String, validation: String?)? {
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [])
        guard names.contains("train") else { return nil }
        let validation = ["val", "validation"].first(where: names.contains).map { "\(root)/\($0)" }
        return ("\(root)/train", validation)
    }

    /// Images at `indices` as a preprocessed NHWC batch; with `view`, its seeded augmentation of each.
    public func images(_ indices: [Int], preprocessing: Preprocessing, augmentation: Augmentation = Augmentation(),
                       seed: UInt64 = 0, view: Int? = nil) -> Tensor {
        var data: [Float] = []
        data.reserveCapacity(indices.count * size * size * 3)
        for (i, bytes) in zip(indices, pixels(indices)) {
            let image = bytes.map(Float.init)
            guard let view else { data += image; continue }
            data += augmentation.apply(image, size: size, seed: seed, image: i, view: view)
        }
        var x = Tensor(shape: [indices.count, size, size, 3], data: data)
        preprocessing.apply(to: &x)
        return x
    }

    /// One image as decoded and resized (RGB bytes at `size`×`size`).
    public func image(at index: Int) -> RGBImage {
        RGBImage(width: size, height: size, pixels: Array(pixels([index])[0]))
    }

    /// Multi-hot targets (one row of 0/1 per image) for multi-label training.
    public func multiHot(_ indices: [Int]) -> Tensor {
        var rows = [Float](repeating: 0, count: indices.count * classes.count)
        for (row, i) in indices.enumerated() { for label in labelSets[i] { rows[row * classes.count + label] = 1 } }
        return Tensor(shape: [indices.count, classes.count], data: rows)
    }

    /// A seeded split that keeps each class's share: (training indices, validation indices).
    public func stratifiedSplit(validationFraction: Double, seed: UInt64) -> (train: [Int], validation: [Int]) {
        var rng = SeededGenerator(seed: seed)
        var train: [Int] = [], validation: [Int] = []
        for label in classes.indices {
            var members = labels.indices.filter { labels[$0] == label }
            members.shuffle(using: &rng)
            let held = members.count > 1 ? Int((Double(members.count) * validationFraction).rounded()) : 0
            validation += members.prefix(held)
            train += members.dropFirst(held)
        }
        return (train.sorted(), validation.sorted())
    }
}

extension Array {
    /// The element at `index`, or nil beyond the end (a short CSV row).
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

/// An image that could be read when the data set was opened but not when a batch needed it (deleted or
/// damaged during a long run), and the image of the same class that took its place (nil: it was left black).
public struct LateReadFailure: Sendable, Equatable {
    public let path: String
    public let reason: String
    public let replacement: String?
}

/// The late read failures of a data set, recorded by whichever thread decodes a batch and taken by the run
/// that reports them. Safe to share across threads: every access holds the lock.
public final class LateReadFailures: @unchecked Sendable {
    private let lock = NSLock()
    private var pending: [LateReadFailure] = []

    public init() {}

    func record(_ failure: LateReadFailure) { lock.withLock { pending.append(failure) } }

    /// The failures recorded since the last call.
    public func take() -> [LateReadFailure] {
        lock.withLock {
            defer { pending.removeAll() }
            return pending
        }
    }
}


/// A data set, image or label file that cannot be used.
public struct DataError: UserFacingError, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
