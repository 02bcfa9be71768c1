import Core
import Foundation
import ImageData
import KerasFiles
import TestSupport
import XCTest
import Zoo

/// Every image format the loaders read, against Pillow's decoding of the same file, and every way a
/// file can be bad: skipped with its reason, never fatal (Tests/fixtures/make_image_files.py).
final class ImageFileTests: XCTestCase {
    private static let directory: URL = {
        let url = try! temporaryDirectory("image-files")
        let made = try! python(["Tests/fixtures/make_image_files.py", url.path])
        precondition(made.status == 0, made.stderr)
        return url
    }()

    func testEveryFormatDecodesLikePillow() throws {
        let good = Self.directory.appendingPathComponent("good/images").path
        // Lossless formats must match exactly; JPEG within a few levels (IDCT and upsampling details);
        // CMYK within the spread of CMYK→RGB formulas.
        // Lossy WebP within a level or two (Pillow bundles a newer libwebp than Debian's).
        let tolerance: [String: Float] = ["baseline.jpg": 3, "progressive.jpg": 3, "gray.jpg": 3, "rotated.jpg": 3,
                                          "really-a-jpeg.png": 3, "cmyk.jpg": 40, "lossy.webp": 2, "alpha-lossy.webp": 2]
        let names = try FileManager.default.contentsOfDirectory(atPath: good).filter { !$0.hasSuffix(".npy") }.sorted()
        XCTAssertEqual(names.count, 21)
        for name in names {
            let image = try ImageDecoder.decode(file: "\(good)/\(name)")
            let expected = try NPY.read("\(good)/\(name).npy")
            XCTAssertEqual([image.height, image.width, 3], expected.shape, name)
            guard [image.height, image.width, 3] == expected.shape else { continue }
            let ours = Tensor(shape: expected.shape, data: image.pixels.map(Float.init))
            XCTAssertLessThanOrEqual(ours.maxAbsDifference(expected), tolerance[name] ?? 0, name)
        }
    }

    func testCenterSquareKeepsTheMiddle() throws {
        let image = try ImageDecoder.decode(file: Self.directory.appendingPathComponent("good/images/rgb.png").path)
        let square = image.centerSquare()
        XCTAssertEqual([square.width, square.height], [48, 48])
        XCTAssertEqual(Array(square.pixels[0..<3]), Array(image.pixels[(8 * 3)..<(8 * 3 + 3)]), "64×48 loses 8 columns each side")
    }

    /// A streamed image deleted after the data was read: the batch takes another image of its class, and the
    /// set records the failure once for the run to report (the library prints nothing).
    func testImageGoneDuringARunIsReplacedAndRecorded() throws {
        let root = try temporaryDirectory("late-failure")
        let classFolder = root.appendingPathComponent("cats")
        try FileManager.default.createDirectory(at: classFolder, withIntermediateDirectories: true)
        for (index, shade) in [UInt8(40), 200].enumerated() {
            let image = RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: shade, count: 8 * 8 * 3))
            try image.pngData().write(to: classFolder.appendingPathComponent("\(index).png"))
        }
        let folder = try ImageFolder(root: root.path, size: 8, memoryBudget: 0)
        XCTAssertTrue(folder.streams)
        try FileManager.default.removeItem(at: classFolder.appendingPathComponent("0.png"))
        let batch = folder.images([0, 1], preprocessing: .caffe)
        XCTAssertEqual(Array(batch.data[0..<192]), Array(batch.data[192..<384]), "the gone image's place holds its class-mate")
        let failures = folder.lateFailures.take()
        XCTAssertEqual(failures.map(\.path), [classFolder.appendingPathComponent("0.png").path])
        XCTAssertEqual(failures.first?.replacement, classFolder.appendingPathComponent("1.png").path)
        XCTAssertTrue(folder.lateFailures.take().isEmpty, "each failure is handed over once")
    }

    func testBadFilesAreSkippedWithTheirReasons() throws {
        let root = Self.directory.appendingPathComponent("bad").path
        let folder = try ImageFolder(root: root, size: 32)
        XCTAssertEqual(folder.classes, ["empty-class", "things"])
        let reasons = Dictionary(folder.skipped.map { (($0.path as NSString).lastPathComponent, $0.reason) }, uniquingKeysWith: { a, _ in a })
        let expected: [String: String] = [
            "empty-class": "empty class folder", "zero-bytes.jpg": "empty file", "truncated.jpg": "truncated JPEG",
            "truncated.png": "PNG", "corrupt.png": "PNG", "notes.jpg": "not an image", "photo.webp": "corrupt or truncated WebP",
            "loop.jpg": "symbolic link", "a-folder.jpg": "a folder",
        ]
        for (file, fragment) in expected {
            XCTAssertTrue(reasons[file]?.contains(fragment) == true, "\(file): \(reasons[file] ?? "not skipped")")
        }
        XCTAssertTrue(folder.files.contains { $0.hasSuffix("fine.png") })
        // The file whose name is not UTF-8 is either read or reported, never lost and never fatal.
        XCTAssertEqual(folder.files.count + folder.skipped.count, 11)
    }

    func testInspectAndStrictFromTheCommandLine() throws {
        let root = Self.directory.appendingPathComponent("bad").path
        let binary = URL(fileURLWithPath: CommandLine.arguments.first { $0.hasSuffix(".xctest") } ?? CommandLine.arguments[0])
            .deletingLastPathComponent().appendingPathComponent("finetune")
        let inspect = try execute(binary, ["data", "inspect", root])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        for fragment in ["things: ", "bad files: ", "truncated.jpg: ", "warning: class things (all) has", "formats: "] {
            XCTAssertTrue(inspect.stdout.contains(fragment), "\(fragment) missing in:\n\(inspect.stdout)")
        }
        let strict = try execute(binary, ["--base", "resnet50", "--data", root, "--weights", "none", "--image-size", "32", "--strict",
                                          "--output", Self.directory.appendingPathComponent("run").path])
        XCTAssertEqual(strict.status, 1)
        XCTAssertTrue(strict.stderr.contains("--strict:"), strict.stderr)
        XCTAssertTrue(strict.stderr.contains("bad file"), strict.stderr)
    }

    func testDuplicatesAcrossSplitsAreFound() throws {
        let root = try temporaryDirectory("splits")
        defer { try? FileManager.default.removeItem(at: root) }
        let source = Self.directory.appendingPathComponent("good/images/rgb.png")
        for split in ["train", "val"] {
            let folder = root.appendingPathComponent("\(split)/cats")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: source, to: folder.appendingPathComponent("a.png"))
        }
        let report = try DataInspection.inspect(root.path)
        XCTAssertEqual(report.duplicates.count, 1)
        XCTAssertEqual(report.duplicates.first?.acrossSplits, true)
        XCTAssertTrue(report.warnings.contains { $0.contains("several splits") })
    }

    /// A file the user may not read. Root reads anything, so as root the check runs without the
    /// capabilities that bypass file permissions (util-linux' setpriv), as an ordinary user would.
    func testUnreadableFileIsSkippedAndNamed() throws {
        let directory = try temporaryDirectory("permissions")
        defer { try? FileManager.default.removeItem(at: directory) }
        let root = directory.appendingPathComponent("data")
        let good = Self.directory.appendingPathComponent("good/images/rgb.png")
        for (folder, name) in [("cats", "a.png"), ("cats", "locked.png"), ("dogs", "b.png"), ("dogs", "c.png")] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: good, to: root.appendingPathComponent("\(folder)/\(name)"))
        }
        let locked = root.appendingPathComponent("cats/locked.png").path
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: locked)
        let binary = URL(fileURLWithPath: CommandLine.arguments.first { $0.hasSuffix(".xctest") } ?? CommandLine.arguments[0])
            .deletingLastPathComponent().appendingPathComponent("finetune")
        let asUser: (URL, [String]) = getuid() != 0 ? (binary, [])
            : (URL(fileURLWithPath: "/usr/bin/setpriv"),
               ["--bounding-set", "-dac_override,-dac_read_search", "--inh-caps", "-dac_override,-dac_read_search", binary.path])
        let inspect = try execute(asUser.0, asUser.1 + ["data", "inspect", root.path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("locked.png: not readable (check its permissions)"), inspect.stdout)
        let train = try execute(asUser.0, asUser.1 + ["--base", "small_cnn", "--data", root.path, "--weights", "none", "--image-size", "32",
                                                      "--schedule", "all:1@1e-3", "--output", directory.appendingPathComponent("run").path])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("skipped \(locked): "), train.stderr)
        XCTAssertTrue(train.stdout.contains("skipped 1 file that cannot be used"), train.stdout)
        XCTAssertTrue(train.stdout.contains("locked.png: "), "the end-of-run summary names the file:\n\(train.stdout)")
        let summary = try String(contentsOf: directory.appendingPathComponent("run/skipped.json"), encoding: .utf8)
        XCTAssertTrue(summary.contains("locked.png"), summary)
    }
}
