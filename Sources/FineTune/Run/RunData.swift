import Core
import Foundation
import ImageData
import Zoo

/// The images a run trains and validates on: the data read in whichever layout it has, and its split.
struct RunData {
    let train: ImageFolder
    let validation: ImageFolder
    var trainIndices: [Int]
    var validationIndices: [Int]
    /// The validation images come from the data's own validation folder rather than a held-out share.
    let givenValidation: Bool
    var skipped: [ImageFolder.Skipped] { train.skipped + (givenValidation ? validation.skipped : []) }

    /// Reads `options.path` at `size`: train/ and val/ sub-folders are used as given; otherwise (IDX train-* files
    /// too: t10k-* is the test set, for evaluate) a seeded stratified split holds some images out.
    init(_ options: RunConfiguration.DataOptions, size: Int, seed: UInt64) throws {
        let data = options.path
        let given = ImageFolder.givenSplits(data)
        let folder = try ImageFolder.anyLayout(given?.train ?? data, size: size, cropToSquare: options.crop, memoryBudget: options.imageMemory,
                                               idxPrefix: "train")
        let heldOut = try given?.validation.map {
            try ImageFolder(root: $0, size: size, classes: folder.classes, cropToSquare: options.crop, memoryBudget: options.imageMemory)
        }
        train = folder
        validation = heldOut ?? folder
        givenValidation = heldOut != nil
        if let heldOut {
            (trainIndices, validationIndices) = (Array(0..<folder.count), Array(0..<heldOut.count))
        } else {
            (trainIndices, validationIndices) = folder.stratifiedSplit(validationFraction: options.validationShare, seed: seed)
        }
    }

    /// The split as listed in `url` (a resumed run trains on exactly the files it started with).
    mutating func restoreSplit(from url: URL, below data: String, notes: (RunNote) throws -> Void) throws {
        (trainIndices, validationIndices) = try SavedSplit(url).indices(train: train, validation: validation, below: data, notes: notes)
    }

    func saveSplit(to url: URL, below data: String) throws {
        try writeJSON(SavedSplit(train: trainIndices.map { SavedSplit.name(train.files[$0], below: data) },
                                 validation: validationIndices.map { SavedSplit.name(validation.files[$0], below: data) }),
                      to: url)
    }

    /// Each class weighed by the inverse of its share of the training images.
    var balancedClassWeights: [Float] {
        let counts = train.classes.indices.map { label in trainIndices.filter { train.labels[$0] == label }.count }
        return counts.map { Float(trainIndices.count) / Float(train.classes.count * max($0, 1)) }
    }
}

/// The file lists of a run's split (split.json). A resumed run trains and validates on exactly these
/// files, even when the data folder gained or lost images since.
struct SavedSplit: Codable {
    var train: [String]
    var validation: [String]

    init(train: [String], validation: [String]) {
        (self.train, self.validation) = (train, validation)
    }

    init(_ url: URL) throws {
        do {
            self = try JSONDecoder().decode(Self.self, from: Data(contentsOf: url))
        } catch {
            throw TrainingError("\(url.path) cannot be read (\(error)); it holds the run's split, so the run cannot resume without it")
        }
    }

    /// A file's name below the data folder: the split stays valid when the run resumes from another
    /// directory. Older splits list whole paths; those still match when the data path is the same.
    static func name(_ path: String, below data: String) -> String {
        let root = data.hasSuffix("/") ? String(data.dropLast()) : data
        return path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
    }

    /// Positions of the listed files in the folders as read now; files gone since are reported and left out.
    func indices(train folder: ImageFolder, validation validationFolder: ImageFolder, below data: String,
                 notes: (RunNote) throws -> Void) throws -> (train: [Int], validation: [Int]) {
        func positions(_ listed: [String], in folder: ImageFolder) throws -> [Int] {
            let names = listed.map { Self.name($0, below: data) }
            let index = Dictionary(folder.files.indices.map { (Self.name(folder.files[$0], below: data), $0) }, uniquingKeysWith: { first, _ in first })
            let missing = names.filter { index[$0] == nil }
            if let first = missing.first { try notes(.splitFilesGone(count: missing.count, first: first)) }
            return names.compactMap { index[$0] }
        }
        let result = (train: try positions(train, in: folder), validation: try positions(validation, in: validationFolder))
        let taken = Set(result.train.map { folder.files[$0] } + result.validation.map { validationFolder.files[$0] })
        let added = (folder.files + (validationFolder.files == folder.files ? [] : validationFolder.files)).filter { !taken.contains($0) }
        if let first = added.first { try notes(.splitFilesNew(count: added.count, first: first)) }
        guard !result.train.isEmpty else { throw TrainingError("none of the training files in the saved split can be read any more") }
        return result
    }
}

/// Folder images seen by the fine-tuner: a subset (the training or validation split), preprocessed,
/// with `views` seeded augmented versions of each.
public struct FolderImages: LabeledImages {
    public let folder: ImageFolder
    public let indices: [Int]
    public let preprocessing: Preprocessing
    /// Multi-hot targets (sigmoid outputs): the CSV layout with several labels on a row, or a multi-label run,
    /// where an image of a class folder has that one label.
    public let multiLabel: Bool
    public var augmentation = Augmentation()
    public var views = 0
    public var seed: UInt64 = 0

    public init(folder: ImageFolder, indices: [Int], preprocessing: Preprocessing, multiLabel: Bool) {
        (self.folder, self.indices, self.preprocessing, self.multiLabel) = (folder, indices, preprocessing, multiLabel)
    }

    public var count: Int { indices.count }
    public var imageShape: [Int] { [folder.size, folder.size, 3] }
    public var augmentedViews: Int { views }

    public func batch(_ positions: [Int], view: Int?) throws -> (images: Tensor, targets: Targets) {
        let chosen = positions.map { indices[$0] }
        let x = folder.images(chosen, preprocessing: preprocessing, augmentation: augmentation, seed: seed, view: view)
        return (x, multiLabel ? .multiHot(folder.multiHot(chosen)) : .classes(chosen.map { folder.labels[$0] }))
    }

    /// Images per class; an image with several labels counts in each of its classes.
    public var labelCounts: [Int] {
        var counts = [Int](repeating: 0, count: folder.classes.count)
        for i in indices { for label in folder.labelSets[i] { counts[label] += 1 } }
        return counts
    }
}
