import Core
import ImageData
import XCTest

/// Seeded augmentation: reproducible per (seed, image, view), different across views, off when asked.
final class AugmentationTests: XCTestCase {
    private let size = 16

    private func image() -> [Float] {
        var rng = SeededGenerator(seed: 4)
        return (0..<(size * size * 3)).map { _ in Float.random(in: 0...255, using: &rng) }
    }

    func testSameSeedImageAndViewGiveTheSameResult() {
        let augmentation = Augmentation(.standard)
        let a = augmentation.apply(image(), size: size, seed: 7, image: 3, view: 1)
        XCTAssertEqual(a, augmentation.apply(image(), size: size, seed: 7, image: 3, view: 1))
        XCTAssertNotEqual(a, augmentation.apply(image(), size: size, seed: 7, image: 3, view: 2))
        XCTAssertNotEqual(a, augmentation.apply(image(), size: size, seed: 8, image: 3, view: 1))
        XCTAssertTrue(a.allSatisfy { (0...255).contains($0) })
    }

    func testNoneIsTheIdentityAndAFlipMirrors() {
        XCTAssertEqual(Augmentation(.none).apply(image(), size: size, seed: 1, image: 0, view: 0), image())
        var flip = Augmentation()
        flip.horizontalFlip = true
        let original = image()
        // A flip happens on about half the views; find one and check it is an exact mirror.
        let mirrored = (0..<20).map { flip.apply(original, size: size, seed: 1, image: 0, view: $0) }.first { $0 != original }
        let m = try! XCTUnwrap(mirrored)
        for row in 0..<size {
            for col in 0..<size {
                for k in 0..<3 {
                    XCTAssertEqual(m[(row * size + col) * 3 + k], original[(row * size + size - 1 - col) * 3 + k], accuracy: 1e-3)
                }
            }
        }
    }

    func testTheDescriptionNamesTheTransformsInUse() {
        XCTAssertEqual(Augmentation().description, "none")
        var custom = Augmentation()
        custom.horizontalFlip = true
        custom.zoom = 0.1
        XCTAssertEqual(custom.description, "horizontal flips, zoom ±10%")
        XCTAssertEqual(Augmentation(.light).description, "horizontal flips, rotation ±10°, zoom ±10%, brightness ±10%")
    }
}
