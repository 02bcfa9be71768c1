import Converters
import Core
import Foundation
import ImageData
import KerasFiles

/// One reader under test, fed one input at a time through the library's public entry points.
public struct FuzzTarget: Sendable {
    public let name: String
    /// Whether an input is this target's to try (the image targets each take one format).
    public var accepts: @Sendable ([UInt8]) -> Bool = { _ in true }
    public let run: @Sendable ([UInt8]) throws -> Void

    public static let all: [FuzzTarget] = [
        image("jpeg", format: "JPEG"),
        image("png", format: "PNG"),
        image("bmp", format: "BMP"),
        image("gif", format: "GIF"),
        image("webp", format: "WebP"),
        FuzzTarget(name: "npy") { bytes in
            // Data sets read any dtype; `embed --input` reads float32 from a file.
            _ = try? NPY.decodeRaw(bytes, name: "input.npy").integers
            _ = try Scratch.withFile("input.npy", bytes) { try NPY.read($0) }
        },
        FuzzTarget(name: "npz") { bytes in
            _ = try Scratch.withFile("input.npz", bytes) { try ImageFolder.npz($0, size: 8) }
        },
        FuzzTarget(name: "idx", run: idx),
        FuzzTarget(name: "csv") { bytes in
            try Data(bytes).write(to: URL(fileURLWithPath: "\(Scratch.csvLayout)/labels.csv"))
            _ = try ImageFolder(root: Scratch.csvLayout, size: 8)
        },
        FuzzTarget(name: "weights") { bytes in
            try Scratch.withFile("weights.h5", bytes) { path in
                for matching in WeightMatching.allCases { _ = try? Weights.load(into: TinyModel.model, from: path, matching: matching) }
            }
        },
        FuzzTarget(name: "checkpoint") { bytes in
            _ = try Scratch.withFile("checkpoint.h5", bytes) { try Checkpoint.load($0) }
        },
        FuzzTarget(name: "pytorch") { bytes in
            _ = try Scratch.withFile("input.pth", bytes) { try PyTorchCheckpoint.read($0) }
        },
        // The restricted unpickler, fed the pickle alone inside a checkpoint whose storages exist.
        FuzzTarget(name: "pickle") { bytes in
            _ = try Scratch.withFile("input.pth", StoredZip.checkpoint(pickle: bytes)) { try PyTorchCheckpoint.read($0) }
        },
        FuzzTarget(name: "safetensors") { bytes in
            _ = try Scratch.withFile("input.safetensors", bytes) { try SafeTensors.read($0) }
        },
    ]

    /// The image decoder with inputs of one format; the other formats have targets and corpora of their own.
    static func image(_ name: String, format: String) -> FuzzTarget {
        FuzzTarget(name: name, accepts: { ImageDecoder.format(of: $0) == format }) { bytes in
            _ = try ImageDecoder.decode(bytes, name: "input").resizedPixels(width: 8, height: 8)
        }
    }

    /// The input is an IDX images file (plain or gzip); a labels file made to match it lets a
    /// readable input go on to become a data set.
    private static func idx(_ bytes: [UInt8]) throws {
        try Scratch.withFolder("idx") { folder in
            let images = try IDX.read(try Scratch.write(bytes, to: "\(folder)/train-images-idx3-ubyte"))
            // The count is the file's claim; beyond the input's size it would only make a big labels file.
            guard let count = images.shape.first, count <= bytes.count else { return }
            let header: [UInt8] = [0, 0, 8, 1] + withUnsafeBytes(of: UInt32(count).bigEndian, Array.init)
            _ = try Scratch.write(header + (0..<count).map { UInt8($0 % 3) }, to: "\(folder)/train-labels-idx1-ubyte")
            _ = try ImageFolder.idx(root: folder, prefix: "train", size: 8)
        }
    }
}

/// A model with each kind of weighted layer the zoo has (convolution, BatchNorm with and without
/// scale, separable convolution, dense), small enough that its weight files are a few KB.
/// The seeds in Fuzz/seeds/weights are made for it (Fuzz/make_seeds.py).
enum TinyModel {
    nonisolated(unsafe) static let model: Model = {
        do {
            let g = try GraphBuilder(inputShape: [4, 4, 3])
            var x = try g.add(Conv2D("conv", filters: 2, kernel: (3, 3), padding: .same), g.input)
            x = try g.add(BatchNormalization("bn"), x)
            x = try g.add(SeparableConv2D("sepconv", filters: 2, kernel: (3, 3), useBias: false), x)
            x = try g.add(BatchNormalization("sepconv_bn", scale: false), x)
            x = try g.add(GlobalPooling2D("pool", .average), x)
            return g.model(name: "tiny", output: try g.add(Dense("dense", units: 2), x))
        } catch {
            fatalError("the fuzz model does not build: \(error)")
        }
    }()
}
