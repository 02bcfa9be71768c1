import ArgumentParser
import Core
import FineTune
import Foundation
import ImageData
import KerasFiles

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Look at a data set before training on it.",
        subcommands: [Inspect.self, ConvertIDX.self])

    /// Turns IDX image and label files into a folder per class of PNG files.
    struct ConvertIDX: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "convert-idx",
            abstract: "Write IDX images (MNIST layout) as a folder per class of PNG files.",
            discussion: """
            Class folders are named by --names (comma-separated, in label order; 'fashion-mnist' for its ten \
            classes) or by label number. --classes keeps some labels, --per-class the first N of each.
            Example (Debian's dataset-fashion-mnist):
              finetune data convert-idx \\
                --images /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \\
                --labels /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz \\
                --names fashion-mnist --classes 5,6,7,8,9 --per-class 30 --output fmnist/
            """)

        static let fashionMNIST = ["T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

        @Option(name: .long, help: "IDX image file (gzipped or not).")
        var images: String

        @Option(name: .long, help: "IDX label file.")
        var labels: String

        @Option(name: .long, help: "Output folder (created; refused when it holds files, unless --overwrite).")
        var output: String

        @Flag(name: .long, help: "Write into an --output folder that holds files, replacing it (so old and new classes never mix).")
        var overwrite = false

        @Option(name: .long, help: "Class names in label order, or 'fashion-mnist'.")
        var names: String?

        @Option(name: .long, help: "Labels to keep (comma-separated; default all).")
        var classes: String?

        @Option(name: .long, parsing: .unconditional, help: "Keep the first N images of each class.")
        var perClass: Int?

        func validate() throws {
            if let perClass, perClass < 1 { throw ValidationError("--per-class must be at least 1") }
            if let classes, classes.split(separator: ",").contains(where: { Int($0) == nil }) {
                throw ValidationError("--classes takes comma-separated label numbers, got '\(classes)'")
            }
            if let titles {
                // Each name becomes a folder under --output: it must stay there, and two classes must not share one.
                if let bad = titles.first(where: { $0.isEmpty || $0 == "." || $0 == ".." || $0.contains("/") || $0.contains(where: \.isNewline) }) {
                    throw ValidationError("--names: '\(bad)' cannot be a class folder's name (empty, '.', '..' or with a '/')")
                }
                if let repeated = titles.first(where: { name in titles.filter { $0 == name }.count > 1 }) {
                    throw ValidationError("--names: '\(repeated)' names two classes; each class needs its own name")
                }
            }
        }

        /// The class names in label order, from --names.
        private var titles: [String]? {
            names == "fashion-mnist" ? Self.fashionMNIST : names.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        }

        /// An earlier conversion's class folders are replaced with --overwrite; anything else in --output
        /// (files this command did not write) is never removed.
        private func clearOutput() throws {
            let existing = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
            guard !existing.isEmpty else { return }
            guard overwrite else {
                throw ValidationError("\(output) already holds files; choose an empty folder, or replace an earlier conversion with --overwrite")
            }
            let converted = existing.allSatisfy { entry in
                ((try? FileManager.default.contentsOfDirectory(atPath: "\(output)/\(entry)")) ?? [".not-a-folder"]).allSatisfy { $0.hasSuffix(".png") }
            }
            guard converted else {
                throw ValidationError("\(output) holds files that are not an earlier conversion's class folders of PNGs; choose an empty folder")
            }
            for entry in existing { try FileManager.default.removeItem(atPath: "\(output)/\(entry)") }
        }

        func run() throws {
            let set = try IDXImages(images: images, labels: labels)
            let present = Set(set.labels)
            let keep = classes.map { $0.split(separator: ",").map { Int($0)! } } ?? present.sorted()
            if let absent = keep.first(where: { !present.contains($0) }) {
                throw ValidationError("--classes: \(labels) has no label \(absent) (its labels: \(present.sorted().map(String.init).joined(separator: ", ")))")
            }
            try clearOutput()
            if let titles, let missing = keep.first(where: { $0 >= titles.count }) {
                throw CommandError("--names gives \(titles.count) names but label \(missing) needs one")
            }
            let (h, w) = (set.pixels.shape[1], set.pixels.shape[2])
            var written = 0
            for index in set.indices(of: keep, perClass: perClass) {
                let label = set.labels[index]
                let folder = URL(fileURLWithPath: output).appendingPathComponent(titles?[label] ?? "\(label)")
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                let gray = set.pixels.bytes[(index * h * w)..<((index + 1) * h * w)]
                let image = RGBImage(width: w, height: h, pixels: gray.flatMap { [$0, $0, $0] })
                try DurableFile.write(image.pngData(), to: folder.appendingPathComponent(String(format: "%05d.png", index)), flush: false)
                written += 1
            }
            print("wrote \(written) PNG files in \(keep.count) class folders under \(output)")
        }
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Images per class, formats, sizes, exact duplicates, bad files and warnings.",
            discussion: """
            PATH holds one sub-folder per class, or train/, val/ and test/ sub-folders that do. Every file is \
            decoded once; exact duplicates are found by content, also across splits.
            Examples:
              finetune data inspect flowers/
              finetune data inspect flowers/ --json inspection.json
            """)

        @Argument(help: "The data folder.")
        var path: String

        @Option(name: .long, help: "Also write the findings as JSON.")
        var json: String?

        func run() throws {
            if let json { try DurableFile.checkWritable(json) }
            let report = try DataInspection.inspect(path)
            print("images per class:")
            for c in report.classes { print("  \(c.split == "all" ? "" : c.split + "/")\(c.name): \(c.images)") }
            print("formats: " + report.formats.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            if report.shortestEdge.count == 3 {
                print("shortest edge: min \(report.shortestEdge[0]) px, median \(report.shortestEdge[1]) px, max \(report.shortestEdge[2]) px")
            }
            print("exact duplicates: \(report.duplicates.count)")
            for d in report.duplicates { print("  \(d.files.joined(separator: " = "))\(d.acrossSplits ? " (across splits)" : "")") }
            print("bad files: \(report.badFiles.count)")
            for bad in report.badFiles { print("  \(bad.path): \(bad.reason)") }
            for warning in report.warnings { print("warning: \(warning)") }
            if !report.imbalancedSplits.isEmpty { print("hint: --class-weights auto weights the loss by each class's share of the images") }
            if let json { try writeJSON(report, to: URL(fileURLWithPath: json)) }
        }
    }
}
