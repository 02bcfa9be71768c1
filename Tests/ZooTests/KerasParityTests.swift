import Core
import KerasFiles
import XCTest
import Zoo

/// From the same weight file and input, our models compute what Keras computes:
/// max |ours − Keras| ≤ 1e-4 · max |Keras| (or Keras' own float32 noise floor where that is
/// larger), for both of Keras' file layouts; and we are as close to the float64 truth.
final class KerasParityTests: XCTestCase {
    func testLayerNamesAndOrderMatchKeras() throws {
        for c in try KerasCase.all() {
            let model = try c.architecture.build(c.options)
            XCTAssertEqual(model.layers.map(\.name), c.layers, c.name)
        }
    }

    func testOutputsMatchKerasFromLegacyFiles() throws {
        try compareAll(suffix: ".h5")
    }

    func testOutputsMatchKerasFromKeras3Files() throws {
        try compareAll(suffix: ".weights.h5")
    }

    private func compareAll(suffix: String) throws {
        let cases = try KerasCase.all()
        XCTAssertGreaterThanOrEqual(cases.count, 9)
        for c in cases {
            let model = try c.architecture.build(c.options)
            let report = try Weights.load(into: model, from: c.file(suffix))
            XCTAssertEqual(report.loaded.count, model.weightedLayers.count, c.name)
            let x = try NPY.read(c.file(".x.npy"))
            let expected = try NPY.read(c.file(".y.npy"))
            let y = try model.predict(x)
            XCTAssertEqual(y.shape, expected.shape, c.name)
            let truth = try NPY.read(c.file(".y64.npy"))
            let error = y.maxAbsDifference(expected) / expected.maxMagnitude
            let fromTruth = y.maxAbsDifference(truth) / truth.maxMagnitude
            print("parity \(c.name)\(suffix): vs Keras \(error), vs float64 \(fromTruth) (Keras vs float64 \(c.kerasFloat32Error))")
            XCTAssertLessThanOrEqual(error, c.tolerance, "\(c.name) from \(suffix)")
            XCTAssertLessThanOrEqual(fromTruth, c.tolerance, "\(c.name) from \(suffix)")
        }
    }
}
