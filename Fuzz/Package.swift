// swift-tools-version:6.0
import Foundation
import PackageDescription

// libFuzzer targets for every file reader, built and run by scripts/fuzz (with libFuzzer and
// AddressSanitizer, in .build-fuzz). A package of its own, so the main package's builds and
// tests never compile it.

// A path dependency is known by its folder's name, whatever the clone is called.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "FineTuneFuzz",
    dependencies: [.package(path: "..")],
    targets: [
        // The readers under test, one FuzzTarget each.
        .target(name: "FuzzTargets", dependencies: [.product(name: "FineTune", package: mainPackage)]),
        // libFuzzer's driver entry point.
        .systemLibrary(name: "CFuzzer"),
        // One binary for all targets (FUZZ_TARGET picks one), so the build links once.
        .executableTarget(name: "fuzz-readers", dependencies: ["CFuzzer", "FuzzTargets"], path: "Sources/FuzzReaders"),
    ]
)
