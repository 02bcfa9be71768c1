import Foundation
import ImageData
import KerasFiles

/// Where inputs become files for the readers that take paths: a folder of this process's own
/// under $TMPDIR (scripts/fuzz points it into the fuzz build folder).
public enum Scratch {
    static let root: String = {
        let template = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("finetune-fuzz.XXXXXX").path
        var name = Array(template.utf8CString)
        guard let made = name.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!).map { String(cString: $0) } }) else {
            fatalError("cannot create a scratch folder in \(NSTemporaryDirectory())")
        }
        return made
    }()

    /// The CSV layout around the input's labels.csv: images a.png and b.png in images/.
    static let csvLayout: String = {
        let folder = "\(root)/csv"
        do {
            try FileManager.default.createDirectory(atPath: "\(folder)/images", withIntermediateDirectories: true)
            for (name, value) in [("a", UInt8(40)), ("b", UInt8(200))] {
                let image = RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: value, count: 12))
                try image.pngData().write(to: URL(fileURLWithPath: "\(folder)/images/\(name).png"))
            }
        } catch {
            fatalError("cannot make the CSV layout in \(folder): \(error)")
        }
        return folder
    }()

    public static func removeAtExit() {
        atexit { try? FileManager.default.removeItem(atPath: Scratch.root) }
    }

    static func write(_ bytes: [UInt8], to path: String) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// `body` with the input as a file, removed afterwards so no reader sees an earlier input.
    static func withFile<T>(_ name: String, _ bytes: [UInt8], _ body: (String) throws -> T) throws -> T {
        let path = try write(bytes, to: "\(root)/\(name)")
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    /// `body` with an empty folder, removed afterwards.
    static func withFolder<T>(_ name: String, _ body: (String) throws -> T) throws -> T {
        let path = "\(root)/\(name)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }
}
