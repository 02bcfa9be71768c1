import Core
import Foundation
import Zoo

/// A folder with one sub-folder per class (`flowers/daisy/*.jpg`), classes in name order.
/// Images are decoded once, resized to the model's input size and kept as bytes; a file that cannot
/// be decoded is skipped and reported, never fatal.
public struct ImageFolder: Sendable {
    public struct Skipped: Sendable, Codable {
        public let path: String
        public let reason: String
    }

    public let root: String
    public let classes: [String]
    public let size: Int
    public private(set) var files: [String] = []
    public private(set) var labels: [Int] = []
    public private(set) var skipped: [Skipped] = []
    /// RGB bytes, `size`×`size`, one image after another.
    private var pixels: [UInt8] = []

    /// Reads `root`; with `classes` given (a checkpoint's), sub-folders must be among them.
    public init(root: String, size: Int, classes known: [String]? = nil) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ModelError("data folder \(root) does not exist; pass a folder with one sub-folder of images per class")
        }
        let found = try FileManager.default.contentsOfDirectory(atPath: root).filter { name in
            var sub: ObjCBool = false
            return !name.hasPrefix(".") && FileManager.default.fileExists(atPath: "\(root)/\(name)", isDirectory: &sub) && sub.boolValue
        }.sorted()
        guard !found.isEmpty else {
            throw ModelError("data folder \(root) has no class sub-folders; put each class's images in its own sub-folder")
        }
        if let known {
            let unknown = found.filter { !known.contains($0) }
            guard unknown.isEmpty else {
                throw ModelError("\(root) has classes the model does not know: \(unknown.joined(separator: ", ")); the model knows \(known.joined(separator: ", "))")
            }
        }
        self.root = root
        self.size = size
        self.classes = known ?? found
        for name in found {
            let label = classes.firstIndex(of: name)!
            let folder = "\(root)/\(name)"
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder).sorted()) ?? []
            let images = entries.filter { !$0.hasPrefix(".") }
            if images.isEmpty { skipped.append(Skipped(path: folder, reason: "empty class folder")) }
            for entry in images {
                let path = "\(folder)/\(entry)"
                do {
                    let image = try ImageDecoder.decode(file: path)
                    pixels += image.resizedPixels(width: size, height: size).map { UInt8(max(0, min(255, $0.rounded()))) }
                    files.append(path)
                    labels.append(label)
                } catch {
                    skipped.append(Skipped(path: path, reason: "\(error)"))
                }
            }
        }
        guard !files.isEmpty else { throw ModelError("no readable images in \(root)") }
    }

    public var count: Int { files.count }

    /// Images at `indices` as a preprocessed NHWC batch; with `view`, its seeded augmentation of each.
    public func images(_ indices: [Int], preprocessing: Preprocessing, augmentation: Augmentation = Augmentation(),
                       seed: UInt64 = 0, view: Int? = nil) -> Tensor {
        let stride = size * size * 3
        var data: [Float] = []
        data.reserveCapacity(indices.count * stride)
        for i in indices {
            let image = pixels[(i * stride)..<((i + 1) * stride)].map(Float.init)
            guard let view else { data += image; continue }
            data += augmentation.apply(image, size: size, seed: seed, image: i, view: view)
        }
        var x = Tensor(shape: [indices.count, size, size, 3], data: data)
        preprocessing.apply(to: &x)
        return x
    }

    /// One image as decoded and resized (RGB bytes at `size`×`size`).
    public func image(at index: Int) -> RGBImage {
        let stride = size * size * 3
        return RGBImage(width: size, height: size, pixels: Array(pixels[(index * stride)..<((index + 1) * stride)]))
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
