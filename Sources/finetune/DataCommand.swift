import ArgumentParser
import Foundation
import ZooIO

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Look at a data set before training on it.",
        subcommands: [Inspect.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Images per class, formats, sizes, exact duplicates, bad files and warnings.",
            discussion: """
            PATH holds one sub-folder per class, or train/, val/ and test/ sub-folders that do. Every file is \\
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
            if let json { try writeJSON(report, to: URL(fileURLWithPath: json)) }
        }
    }
}
