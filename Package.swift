// swift-tools-version:6.0
import Foundation
import PackageDescription

// The converter mappings (converters/*.json), compiled into the converter so the installed binary has them.
let mappingFiles = ((try? FileManager.default.contentsOfDirectory(atPath: Context.packageDirectory + "/converters")) ?? [])
    .filter { $0.hasSuffix(".json") }.sorted()

let package = Package(
    name: "FineTune",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "FineTune", targets: ["Core", "Zoo", "KerasFiles", "ImageData", "Converters", "Export", "FineTune", "DataParallel"]),
        .executable(name: "finetune", targets: ["finetune"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/swiftcsv/SwiftCSV", from: "0.10.0"),
    ],
    targets: [
        // C libraries from Debian, found by pkg-config where Debian ships a .pc file.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CGIF", pkgConfig: "libgif", providers: [.apt(["libgif-dev"])]),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebp", providers: [.apt(["libwebp-dev"])]),
        .systemLibrary(name: "CGzip", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        // oneDNN primitives behind a small C API over NHWC buffers.
        .target(name: "CKernels", dependencies: ["CDNNL"], cSettings: [.unsafeFlags(["-O3"])],
                linkerSettings: [.linkedLibrary("dnnl")]),
        // JPEG, PNG, GIF and WebP decoding behind one C API with the same bounds, where libjpeg's
        // longjmp errors can be caught.
        .target(name: "CImages", dependencies: ["CJPEG", "CPNG", "CGIF", "CWebP"], cSettings: [.unsafeFlags(["-O3"])],
                linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("gif"), .linkedLibrary("webp")]),
        // Tensors, layers and model graphs; no file I/O.
        .target(name: "Core", dependencies: ["CKernels"]),
        // The four keras.applications architectures and the zoo manifest.
        .target(name: "Zoo", dependencies: ["Core"], resources: [.embedInCode("models.json")]),
        // Keras' files: HDF5 weight and model files (checked before libhdf5 reads them), checkpoints and
        // training state, .npy/.npz arrays, zip archives, zlib, and the download cache of the zoo's weights.
        .target(name: "KerasFiles", dependencies: [
            "Core", "Zoo", "CHDF5", "CGzip", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // Images and datasets: decoders, resizing, augmentation, the dataset layouts (class folders, CSV,
        // IDX, .npz) and their inspection.
        .target(name: "ImageData", dependencies: [
            "Core", "Zoo", "KerasFiles", "CImages",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftCSV", package: "SwiftCSV"),
        ]),
        // Weights from other frameworks (PyTorch, safetensors, Keras 3) mapped onto the zoo's Keras layers
        // by the JSON mappings in converters/.
        .target(name: "Converters", dependencies: ["Core", "Zoo", "KerasFiles"], exclude: ["mappings/README.md"],
                resources: mappingFiles.map { .embedInCode("mappings/\($0)") }),
        // Fine-tuned models written for other runtimes: ONNX graphs and Keras 3 .keras archives.
        .target(name: "Export", dependencies: ["Core", "Zoo", "KerasFiles", .product(name: "Crypto", package: "swift-crypto")]),
        // Fine-tuning runs: configuration, freezing recipes, learning-rate policies, cached features, the run folder,
        // evaluation metrics, the batched predictor and the report.
        .target(name: "FineTune", dependencies: ["Core", "Zoo", "KerasFiles", "ImageData", "Converters"]),
        // Data-parallel training over Open MPI, when mpirun started the process: the only importer of MPI.
        .target(name: "DataParallel", dependencies: ["Core", "CMPI"]),
        .executableTarget(name: "finetune", dependencies: [
            "Core", "Zoo", "KerasFiles", "ImageData", "Converters", "Export", "FineTune", "DataParallel",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Fine-tuning from Swift code, without the command line.
        .executableTarget(name: "library-finetune-example", dependencies: ["Core", "Zoo", "KerasFiles", "ImageData", "FineTune"],
                          path: "Examples/LibraryFineTune"),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "CoreTests", dependencies: ["Core"]),
        .testTarget(name: "ZooTests", dependencies: ["Core", "Zoo", "KerasFiles", "ImageData", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["Core", "Zoo", "KerasFiles", "ImageData", "TestSupport"], exclude: ["help"]),
        .testTarget(name: "FineTuneTests", dependencies: ["Core", "Zoo", "FineTune", "TestSupport"]),
        .testTarget(name: "ConverterTests", dependencies: ["Core", "Zoo", "KerasFiles", "ImageData", "Converters", "TestSupport"]),
    ]
)
