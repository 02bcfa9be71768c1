import Foundation
import ImageData
import KerasFiles
import TestSupport
import XCTest

/// What a run's report, plan and predictions tell the user (issue 24, items 1–3 and 13), on small
/// Fashion-MNIST sets trained for a second with small_cnn.
final class ReportTests: XCTestCase {
    private static let idx = "/usr/share/datasets/fashion-mnist"

    /// Fashion-MNIST test images of `classes` (label numbers, also the folder names), `perClass` each, as PNG folders.
    private func fashion(_ classes: [Int], perClass: Int, into folder: URL) throws {
        let converted = try CLI.run(["data", "convert-idx", "--images", "\(Self.idx)/t10k-images-idx3-ubyte.gz",
                                     "--labels", "\(Self.idx)/t10k-labels-idx1-ubyte.gz", "--classes", classes.map(String.init).joined(separator: ","),
                                     "--per-class", "\(perClass)", "--output", folder.path])
        XCTAssertEqual(converted.status, 0, converted.stderr)
    }

    private func files(in folder: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil).sorted { $0.path < $1.path }
    }

    private func train(_ arguments: [String], schedule: String = "head:1@1e-3") throws -> ProcessResult {
        let run = try CLI.run(["--base", "small_cnn", "--weights", "none", "--image-size", "32", "--schedule", schedule] + arguments)
        XCTAssertEqual(run.status, 0, run.stderr)
        return run
    }

    /// The predict CSV's rows, split into fields (no field here needs quoting).
    private func csvRows(_ text: String) -> [[String]] {
        text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    private func matches(_ pattern: String, in text: String) throws -> [[String]] {
        let regex = try NSRegularExpression(pattern: pattern)
        return regex.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { match in
            (1..<match.numberOfRanges).map { String(text[Range(match.range(at: $0), in: text)!]) }
        }
    }

    func testEveryMistakeOfAHundredValidationImagesIsShownOrCounted() throws {
        let directory = try temporaryDirectory("report-mistakes")
        defer { try? FileManager.default.removeItem(at: directory) }
        // Four look-alike classes (T-shirt, pullover, coat, shirt): 10 training and 25 validation images each.
        let all = directory.appendingPathComponent("all"), data = directory.appendingPathComponent("data")
        try fashion([0, 2, 4, 6], perClass: 35, into: all)
        for classFolder in try files(in: all) {
            for (n, file) in try files(in: classFolder).enumerated() {
                let target = data.appendingPathComponent(n < 10 ? "train" : "val").appendingPathComponent(classFolder.lastPathComponent)
                try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
                try FileManager.default.copyItem(at: file, to: target.appendingPathComponent(file.lastPathComponent))
            }
        }
        // A rate too small to learn much in one epoch: most of the 100 validation images are mistakes, more than
        // the gallery's 48 places, so both the order and the count are needed.
        let run = directory.appendingPathComponent("run")
        let trained = try train(["--data", data.path, "--output", run.path], schedule: "head:1@1e-6")
        XCTAssertTrue(trained.stdout.contains("40 training and 100 validation images"), trained.stdout)

        // The mistakes, from predict on the same checkpoint: each as class-folder/file.
        let classFolders = try files(in: data.appendingPathComponent("val"))
        let predicted = try CLI.run(["predict", "--model", run.appendingPathComponent("best.h5").path] + classFolders.map(\.path))
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        let rows = csvRows(predicted.stdout).dropFirst()
        XCTAssertEqual(rows.count, 100)
        let mistakes = Set(rows.compactMap { row -> String? in
            let path = URL(fileURLWithPath: row[0])
            let truth = path.deletingLastPathComponent().lastPathComponent
            return row[1] == truth ? nil : "\(truth)/\(path.lastPathComponent)"
        })
        XCTAssertGreaterThan(mistakes.count, 48, "the run must make more mistakes than the gallery shows for this test to mean anything")

        let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        let shown = try matches("<figure class='wrong' title='([^']*)'", in: report).map { match in
            let path = URL(fileURLWithPath: match[0])
            return "\(path.deletingLastPathComponent().lastPathComponent)/\(path.lastPathComponent)"
        }
        let hidden = try matches("Not shown: (\\d+) mistakes? and (\\d+) correct", in: report)
        XCTAssertEqual(hidden.count, 1, "the report says how many images it leaves out")
        let hiddenMistakes = Int(hidden.first?[0] ?? "") ?? 0
        XCTAssertEqual(shown.count, 48, "the gallery's places all go to mistakes")
        XCTAssertTrue(Set(shown).isSubset(of: mistakes), "every image marked wrong is a mistake")
        XCTAssertEqual(Set(shown).count + hiddenMistakes, mistakes.count, "every mistake is shown or counted")
        XCTAssertEqual(Int(hidden.first?[1] ?? ""), 100 - mistakes.count, "and so is every right answer")
    }

    func testMultiLabelRunsCountEveryLabelAndReportEachLabel() throws {
        let directory = try temporaryDirectory("report-multilabel")
        defer { try? FileManager.default.removeItem(at: directory) }
        // The CSV layout: T-shirts (0) and pullovers (2) are also 'cloth', trousers (1) are not.
        let source = directory.appendingPathComponent("source"), data = directory.appendingPathComponent("data")
        try fashion([0, 1, 2], perClass: 20, into: source)
        let images = data.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        var csv = "file,labels\n"
        for classFolder in try files(in: source) {
            for file in try files(in: classFolder) {
                try FileManager.default.copyItem(at: file, to: images.appendingPathComponent(file.lastPathComponent))
                csv += "\(file.lastPathComponent),\(classFolder.lastPathComponent)\(classFolder.lastPathComponent == "1" ? "" : ";cloth")\n"
            }
        }
        try csv.write(to: data.appendingPathComponent("labels.csv"), atomically: true, encoding: .utf8)

        let run = directory.appendingPathComponent("run")
        let trained = try train(["--data", data.path, "--output", run.path], schedule: "head:10@1e-2")
        XCTAssertTrue(trained.stdout.contains("48 training and 12 validation images, multi-label"), trained.stdout)
        // The plan counts every label of an image, not only its first.
        var counted: [String: (train: Int, validation: Int)] = [:]
        for match in try matches("\n  (\\S+): (\\d+) train, (\\d+) validation", in: trained.stdout) {
            counted[match[0]] = (Int(match[1])!, Int(match[2])!)
        }
        XCTAssertEqual(counted.mapValues { $0.train + $0.validation }, ["0": 20, "1": 20, "2": 20, "cloth": 40], trained.stdout)

        // The report: per-label scores and every validation image with its true and predicted label sets.
        let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
        XCTAssertTrue(report.contains("Validation (multi-label): exact match"), "the report scores the labels")
        let clothRow = try matches("<tr><td style='text-align:left'>cloth</td>(?:<td>[0-9.]+</td>){3}<td>(\\d+)</td></tr>", in: report)
        XCTAssertEqual(clothRow.first.flatMap { Int($0[0]) }, counted["cloth"]?.validation, "cloth's support: its validation images")
        let captions = try matches("<figcaption>[^<]*<br>true: ([^<]*)<br>predicted: ([^<]*)</figcaption>", in: report)
        XCTAssertEqual(captions.count, 12, "all 12 validation images are shown")
        XCTAssertTrue(captions.contains { $0[0].hasSuffix("; cloth") }, "true label sets are shown whole: \(captions)")

        // predict's columns say what they hold: the labels at 0.5 or more and their probabilities.
        let predicted = try CLI.run(["predict", "--model", run.appendingPathComponent("best.h5").path, images.path, "--top-k", "4"])
        XCTAssertEqual(predicted.status, 0, predicted.stderr)
        let rows = csvRows(predicted.stdout)
        XCTAssertEqual(rows.first, ["file", "labels", "probabilities", "top_k"])
        XCTAssertEqual(rows.count, 61)
        XCTAssertTrue(rows.dropFirst().contains { !$0[1].isEmpty }, "some labels reach 0.5: \(predicted.stdout)")
        for row in rows.dropFirst() {
            let labels = row[1].split(separator: ";").map(String.init)
            let probabilities = row[2].split(separator: ";").map { Float($0)! }
            let above = row[3].split(separator: ";").map { $0.split(separator: ":") }.filter { Float($0[1])! >= 0.5 }.map { String($0[0]) }
            XCTAssertEqual(labels, above, "labels: the classes at 0.5 or more, most probable first (\(row))")
            XCTAssertEqual(probabilities.count, labels.count, "a probability for each label (\(row))")
            XCTAssertTrue(probabilities.allSatisfy { $0 >= 0.5 }, "\(row)")
        }
    }

    func testMultiLabelOnClassFoldersTrainsEachImageWithItsOneLabel() throws {
        let directory = try temporaryDirectory("report-multilabel-folders")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data"), run = directory.appendingPathComponent("run")
        try fashion([0, 1], perClass: 20, into: data)
        let trained = try train(["--data", data.path, "--multilabel", "--output", run.path])
        XCTAssertTrue(trained.stdout.contains("32 training and 8 validation images, multi-label"), trained.stdout)
        XCTAssertTrue(trained.stdout.contains("  0: 16 train, 4 validation"), trained.stdout)
        XCTAssertTrue(try Checkpoint.load(run.appendingPathComponent("best.h5").path).1.multiLabel)
        let evaluated = try CLI.run(["evaluate", "--model", run.appendingPathComponent("best.h5").path, "--data", data.path])
        XCTAssertEqual(evaluated.status, 0, evaluated.stderr)
        XCTAssertTrue(evaluated.stdout.contains("multi-label: exact match"), evaluated.stdout)
    }

    func testChartsHaveAxesTicksALegendAndPhaseBoundaries() throws {
        let directory = try temporaryDirectory("report-charts")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data")
        try fashion([0, 1], perClass: 20, into: data)
        var phaseColumns: [String: Int] = [:]
        for (name, phases) in [("one", "head:3@1e-3"), ("two", "head:2@1e-3,all:2@1e-4")] {
            let run = directory.appendingPathComponent(name)
            _ = try train(["--data", data.path, "--output", run.path], schedule: phases)
            let report = try String(contentsOf: run.appendingPathComponent("report.html"), encoding: .utf8)
            for label in [">epoch<", ">loss<", ">accuracy<", ">training<", ">validation<", ">1<", ">3<", ">0<"] {
                XCTAssertTrue(report.contains(label), "\(name): the SVG charts label \(label)")
            }
            XCTAssertEqual(report.contains(">phase 2<"), name == "two", "\(name): phase boundaries marked in the SVG")
            XCTAssertEqual(try matches("<svg[^>]*>(?:<(?:rect|line|text)[^>]*>(?:[^<]*</text>)?)*</svg>", in: report).count, 2,
                           "\(name): two whole SVG charts, closed before the rest of the page")

            for chart in ["loss.png", "accuracy.png"] {
                let image = try ImageDecoder.decode(file: run.appendingPathComponent(chart).path)
                func pixel(_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8) {
                    let i = (y * image.width + x) * 3
                    return (image.pixels[i], image.pixels[i + 1], image.pixels[i + 2])
                }
                func inked(_ xs: Range<Int>, _ ys: Range<Int>) -> Bool {
                    xs.contains { x in ys.contains { y in pixel(x, y) != (255, 255, 255) } }
                }
                XCTAssertTrue(inked(0..<50, 20..<(image.height - 40)), "\(name) \(chart): value ticks left of the plot")
                XCTAssertTrue(inked(60..<(image.width - 20), (image.height - 30)..<image.height), "\(name) \(chart): epoch labels below it")
                // Both series, in their colours (curves and legend).
                for colour: (UInt8, UInt8, UInt8) in [(31, 119, 180), (255, 127, 14)] {
                    XCTAssertTrue((0..<image.width).contains { x in (0..<image.height).contains { pixel(x, $0) == colour } }, "\(name) \(chart)")
                }
                // A phase boundary: a dashed grey line, most of the plot's height in one column.
                phaseColumns["\(name) \(chart)"] = (0..<image.width).filter { x in (0..<image.height).filter { pixel(x, $0) == (150, 150, 150) }.count > 100 }.count
            }
        }
        XCTAssertEqual(phaseColumns, ["one loss.png": 0, "one accuracy.png": 0, "two loss.png": 1, "two accuracy.png": 1])
    }
}
