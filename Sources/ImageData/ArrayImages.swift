import Core
import Foundation
import KerasFiles

/// Images in an array (IDX or .npz): N×H×W grayscale or N×H×W×C (C = 1 or 3) bytes at their own size.
public struct PixelArray: Sendable {
    public let name: String
    public let count: Int
    public let height: Int
    public let width: Int
    public let channels: Int
    private let bytes: [UInt8]

    public init(name: String, bytes: [UInt8], shape: [Int]) throws {
        guard shape.count == 3 || (shape.count == 4 && [1, 3].contains(shape[3])) else {
            throw DataError("\(name) holds images of shape \(shape); expected N x height x width (x 1 or 3 channels)")
        }
        guard shape.allSatisfy({ $0 > 0 }) else {
            throw DataError("\(name) holds images of shape \(shape); it needs at least one image of at least one pixel")
        }
        guard try checkedProduct(shape, name: name, what: "pixels") == bytes.count else {
            throw DataError("\(name) holds \(bytes.count) bytes for images of shape \(shape); the file is damaged")
        }
        self.name = name
        self.bytes = bytes
        (count, height, width) = (shape[0], shape[1], shape[2])
        channels = shape.count == 4 ? shape[3] : 1
    }

    /// Image `index` as RGB.
    public func image(_ index: Int) -> RGBImage {
        let plane = height * width * channels
        let source = bytes[(index * plane)..<((index + 1) * plane)]
        guard channels == 1 else { return RGBImage(width: width, height: height, pixels: Array(source)) }
        var rgb: [UInt8] = []
        rgb.reserveCapacity(3 * plane)
        for value in source { rgb += [value, value, value] }
        return RGBImage(width: width, height: height, pixels: rgb)
    }
}

extension ImageFolder {
    /// More classes than ImageNet's 1000 means labels that are not class numbers (ids, measurements,
    /// a damaged file): refused, since every class costs output weights and a row of the scores.
    public static let maximumClasses = 1000

    /// Images in an array with their labels as class indices into `classes`. Resized images are kept
    /// while they fit `memoryBudget`; beyond it each batch is resized from the array again, which
    /// gives the same bytes.
    init(array: PixelArray, labels: [Int], classes: [String], size: Int, memoryBudget: Int) throws {
        guard labels.count == array.count else { throw DataError("\(array.name) has \(labels.count) labels for \(array.count) images") }
        root = array.name
        self.size = size
        self.classes = classes
        cropToSquare = false
        files = (0..<array.count).map { "\(array.name)#\($0)" }
        self.labels = labels
        labelSets = labels.map { [$0] }
        let (resizedBytes, overflow) = array.count.multipliedReportingOverflow(by: size * size * 3)
        guard !overflow, resizedBytes <= memoryBudget else {
            store = .array(array)
            return
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(resizedBytes)
        for index in 0..<array.count { bytes += Self.resized(array.image(index), size: size) }
        store = .memory(bytes)
    }

    /// Data in any layout: an `.npz` archive, a folder of IDX files (the `idxPrefix` pair: `train` to train,
    /// `t10k` to test), or a folder of images (class sub-folders or the CSV layout). With `known` classes (a
    /// checkpoint's), every label must be among them.
    public static func anyLayout(_ path: String, size: Int, classes known: [String]? = nil, cropToSquare: Bool = false,
                                 memoryBudget: Int = defaultMemoryBudget, idxPrefix: String) throws -> ImageFolder {
        if path.lowercased().hasSuffix(".npz") { return try npz(path, size: size, classes: known, memoryBudget: memoryBudget) }
        if let arrays = try idx(root: path, prefix: idxPrefix, size: size, classes: known, memoryBudget: memoryBudget) { return arrays }
        return try ImageFolder(root: path, size: size, classes: known, cropToSquare: cropToSquare, memoryBudget: memoryBudget)
    }

    /// A `.npz` archive with `x` (uint8 images, N×H×W or N×H×W×C) and `y` (integer labels); the labels
    /// present are the classes, named by their values, unless `known` (the training set's classes) is given.
    public static func npz(_ path: String, size: Int, classes known: [String]? = nil, memoryBudget: Int = defaultMemoryBudget) throws -> ImageFolder {
        let archive = try NPZ(path)
        guard let y = try archive.array("y"), let x = try archive.array("x") else {
            throw DataError("\(path) needs arrays named x (images) and y (labels); it has \(archive.names.joined(separator: ", "))")
        }
        guard x.dtype.hasSuffix("u1") else { throw DataError("\(path): x holds \(x.dtype); images must be uint8 (0–255)") }
        guard let values = y.integers else {
            throw DataError("\(path): y holds \(y.dtype) values; labels must be integers (of at most 64 bits, signed)")
        }
        let (classes, labels) = try classIndices(values, known: known, name: "\(path):y")
        return try ImageFolder(array: PixelArray(name: path, bytes: x.bytes, shape: x.shape), labels: labels, classes: classes,
                               size: size, memoryBudget: memoryBudget)
    }

    /// An IDX pair (`train-images-idx3-ubyte[.gz]` and its labels) in `root`; the labels present are the
    /// classes, named by their values, unless `known` (the training set's classes) is given.
    public static func idx(root: String, prefix: String, size: Int, classes known: [String]? = nil,
                           memoryBudget: Int = defaultMemoryBudget) throws -> ImageFolder? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        guard let images = names.first(where: { $0.hasPrefix("\(prefix)-images-idx3-ubyte") }),
              let labels = names.first(where: { $0.hasPrefix("\(prefix)-labels-idx1-ubyte") }) else { return nil }
        let set = try IDXImages(images: "\(root)/\(images)", labels: "\(root)/\(labels)")
        let (classes, indices) = try classIndices(set.labels, known: known, name: "\(root)/\(labels)")
        return try ImageFolder(array: PixelArray(name: "\(root)/\(images)", bytes: set.pixels.bytes, shape: set.pixels.shape),
                               labels: indices, classes: classes, size: size, memoryBudget: memoryBudget)
    }

    /// Classes named by the label values: the distinct values present in numeric order, or `known`
    /// names (a training set's) that every value must be among; and each label's class index.
    private static func classIndices(_ values: [Int], known: [String]?, name: String) throws -> (classes: [String], labels: [Int]) {
        let classes = try known ?? {
            let present = Set(values).sorted()
            guard present.count <= maximumClasses else {
                throw DataError("\(name) has \(present.count) distinct labels; finetune trains at most \(maximumClasses) classes, so the labels should be class numbers")
            }
            return present.map(String.init)
        }()
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let labels = try values.map { value in
            guard let label = index[String(value)] else {
                throw DataError("\(name) has label \(value), which is not among the training classes (\(classes.joined(separator: ", ")))")
            }
            return label
        }
        return (classes, labels)
    }
}
