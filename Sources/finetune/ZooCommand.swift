import ArgumentParser
import Converters
import Core
import Foundation
import KerasFiles
import Zoo

struct ZooCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoo",
        abstract: "List, download and verify the published Keras weights of the zoo's models.",
        subcommands: [List.self, Fetch.self, Verify.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each model's input sizes, preprocessing, features, layer groups and cached weights.",
            discussion: "Example: finetune zoo list")

        func run() throws {
            let cache = WeightCache()
            print("cache: \(cache.directory.path)")
            for model in Manifest.shared.models {
                // Only the published architectures are keras.applications models; small_cnn is this project's baseline.
                print(model.weights.isEmpty ? "\(model.name) (a small CNN of this project's, for baselines)"
                      : model.weights.values.contains { $0.convertFrom != nil } ? "\(model.name) (torchvision's ResNet50 v1.5 in Keras layers)"
                      : "\(model.name) (keras.applications.\(model.kerasClass))")
                print("  input: \(model.defaultInputSize)x\(model.defaultInputSize) default, \(model.minimumInputSize) minimum; preprocessing: \(model.preprocessing.rawValue); features: \(model.featureWidth)")
                print("  layer groups: \(model.layerGroups.joined(separator: ", "))")
                if model.weights.isEmpty { print("  weights: none published (train it, or pass a file with --weights)") }
                for (variant, top) in [("top", true), ("notop", false)] {
                    guard let file = try? model.weightFile(includeTop: top) else { continue }
                    let state = file.convertFrom == nil ? cacheState(cache.path(for: file), file.digest)
                        : FileManager.default.fileExists(atPath: cache.convertedPath(file, for: Architecture(rawValue: model.name)!, includeTop: top).path)
                            ? "converted in the cache" : "not cached"
                    let converted = file.convertFrom.map { ", converted from \($0) on fetch" } ?? ""
                    print("  weights (\(variant)): \(file.fileName) \(file.digest)\(converted) [\(state)]")
                }
            }
        }
    }

    /// A cached file counts as cached only when its digest is the published one.
    static func cacheState(_ path: URL, _ digest: Manifest.Digest) -> String {
        guard FileManager.default.fileExists(atPath: path.path) else { return "not cached" }
        guard (try? digest.matches(path)) == true else {
            return "in the cache but its \(digest.kind) is not the published one: remove it and fetch again"
        }
        return "cached, \(digest.kind) verified"
    }

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a model's published weights into the cache and verify their hash.",
            discussion: """
            The cache is $FINETUNE_CACHE, else ~/.cache/finetune/models. Offline, copy the file there \
            or pass it to other commands with --weights PATH. resnet50_v1_5's weights are torchvision's \
            IMAGENET1K_V2 file, converted into Keras' layout in the cache.
            Examples:
              finetune zoo fetch resnet50
              finetune zoo fetch vgg19 --include-top
            """)

        @Argument(help: "The model: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
        var name: Architecture

        @Flag(name: .long, help: "The file with the ImageNet classifier instead of the no-top file.")
        var includeTop = false

        func run() throws {
            let path = try WeightCache().fetchConverted(name, includeTop: includeTop, progress: { log($0) })
            print(path.path)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a weights file: its md5 against the published files, and which model it fits.",
            discussion: """
            Example:
              finetune zoo verify \\
                ~/Downloads/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5
            """)

        @Argument(help: "An HDF5 weights file.")
        var file: String

        func run() throws {
            if let checkpoint = try Checkpoint.describe(file) {
                print("\(file): a finetune checkpoint: \(checkpoint)")
                return
            }
            let digest = try md5(of: URL(fileURLWithPath: file))
            for model in Manifest.shared.models {
                for top in [true, false] where (try? model.weightFile(includeTop: top))?.digest == .md5(digest) {
                    print("\(file): the published \(model.name) weights (\(top ? "with" : "without") top), md5 \(digest) verified")
                    return
                }
            }
            print("\(file): md5 \(digest) is not one of the published files")
            let fits = try FileFit.candidates(for: file)
            if fits.isEmpty {
                throw CommandError("\(file) fits none of the zoo's models; it is for another architecture or damaged")
            }
            for fit in fits { print("\(file): its layers and shapes fit \(fit)") }
        }
    }
}

/// Which zoo models a weights file loads into (by Keras' positional rule, at the default input size).
enum FileFit {
    static func candidates(for file: String) throws -> [String] {
        var fits: [String] = []
        var lastError: Error?
        for architecture in Architecture.allCases {
            let spec = try Manifest.shared.model(architecture)
            for top in [false, true] {
                let size = spec.defaultInputSize
                let model = try architecture.build(ModelOptions(includeTop: top, inputHeight: size, inputWidth: size))
                do {
                    try Weights.load(into: model, from: file)
                    fits.append("\(architecture.rawValue) \(top ? "with" : "without") top")
                } catch {
                    lastError = error
                }
            }
        }
        if fits.isEmpty, let error = lastError as? WeightsFileError, [.missing, .notHDF5].contains(error.kind) {
            throw error
        }
        return fits
    }
}
