import Converters
import Core
import Foundation
import TestSupport
import XCTest

/// The foreign weight readers against files written by PyTorch, safetensors and Keras 3 themselves
/// (Tests/fixtures/make_foreign_files.py): every value equal to the framework's own, bit for bit.
final class ReaderTests: XCTestCase {
    static let directory: URL = {
        let url = try! temporaryDirectory("foreign-files")
        let made = try! python(["Tests/fixtures/make_foreign_files.py", url.path])
        precondition(made.status == 0, made.stderr)
        return url
    }()

    static func good(_ name: String) -> String { directory.appendingPathComponent("good/\(name)").path }

    /// What the framework holds for `file`: names in order, shapes and float32 values.
    private func expected(_ file: String) throws -> [(name: String, tensor: ForeignTensor)] {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("expected/\(file).json"))
        let entries = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[Any]])
        return try entries.map { entry in
            let shape = try XCTUnwrap(entry[1] as? [Int])
            let values = try XCTUnwrap(entry[2] as? [Double]).map(Float.init)
            return (try XCTUnwrap(entry[0] as? String), ForeignTensor(shape: shape, values: values))
        }
    }

    private func assertBitForBit(_ weights: ForeignWeights, _ expected: [(name: String, tensor: ForeignTensor)],
                                 file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(weights.names, expected.map(\.name), file: file, line: line)
        for (name, tensor) in expected {
            let read = weights[name]
            XCTAssertEqual(read?.shape, tensor.shape, name, file: file, line: line)
            XCTAssertEqual(read?.values.map(\.bitPattern), tensor.values.map(\.bitPattern), name, file: file, line: line)
        }
    }

    func testPyTorchCheckpointsReadAsTorchHoldsThem() throws {
        for name in ["state_dict.pth", "protocol4.pth", "nested.pth", "model_key.pth", "zip64.pth", "deflated.pth"] {
            let file = try ForeignWeights.read(path: Self.good(name))
            XCTAssertEqual(file.format, .pytorch, name)
            assertBitForBit(file.weights, try expected(name))
            XCTAssertEqual(file.weights.skipped, ["bn.num_batches_tracked"], name)
        }
        let parameters = try ForeignWeights.read(path: Self.good("parameters.pth"))
        assertBitForBit(parameters.weights, try expected("parameters.pth"))
    }

    func testSafeTensorsReadAsTorchHoldsThem() throws {
        let file = try ForeignWeights.read(path: Self.good("state_dict.safetensors"))
        XCTAssertEqual(file.format, .safetensors)
        XCTAssertEqual(file.metadata, ["format": "pt", "source": "fixture"])
        // safetensors orders tensors by its own rule; the names and values are what matter.
        let expected = try expected("state_dict.safetensors")
        XCTAssertEqual(Set(file.weights.names), Set(expected.map(\.name)))
        for (name, tensor) in expected {
            XCTAssertEqual(file.weights[name], ForeignTensor(shape: tensor.shape, values: tensor.values), name)
        }
        XCTAssertEqual(file.weights.skipped, ["bn.num_batches_tracked"])
    }

    func testKerasArchivesNameVariablesAsKerasDoes() throws {
        let flat = try ForeignWeights.read(path: Self.good("flat.keras"))
        XCTAssertEqual(flat.format, .keras)
        XCTAssertEqual(flat.metadata["keras_version"]?.hasPrefix("3."), true)
        assertBitForBit(flat.weights, try expected("flat.keras"))
        let predictions = try XCTUnwrap(flat.kerasLayers?.last)
        XCTAssertEqual([predictions.name, predictions.className, predictions.activation], ["predictions", "Dense", "linear"])
        XCTAssertEqual(predictions.inputs, ["avg_pool"])
        XCTAssertEqual(predictions.units, 3)
        XCTAssertNil(predictions.parent)

        let nested = try ForeignWeights.read(path: Self.good("nested.keras"))
        assertBitForBit(nested.weights, try expected("nested.keras"))
        let layers = try XCTUnwrap(nested.kerasLayers)
        XCTAssertEqual(layers.first { $0.name == "tiny_base" }?.className, "Functional")
        XCTAssertEqual(layers.first { $0.name == "conv1_bn" }?.parent, "tiny_base")
        XCTAssertEqual(layers.last?.name, "head")
        XCTAssertEqual(layers.last?.inputs, ["dropout"])
        XCTAssertEqual(layers.first { $0.name == "dropout" }?.inputs, ["tiny_base"])
        XCTAssertNil(layers.last?.parent)
    }

    /// Bare weights files name nothing; the zoo-style model they were saved from names the base's layers,
    /// and a layer the model lacks keeps its Keras 3 key.
    func testBareKerasWeightsAreNamedByTheModel() throws {
        let withHead = try ForeignWeights.read(path: Self.good("flat.weights.h5"), model: try Self.tinyBase(head: 3))
        XCTAssertEqual(withHead.format, .kerasWeights)
        assertBitForBit(withHead.weights, try expected("flat.keras"))

        let nested = try ForeignWeights.read(path: Self.good("nested.weights.h5"), model: try Self.tinyBase(head: nil))
        let keras = try expected("nested.keras")
        let renamed = keras.map { ($0.name.hasPrefix("head/") ? "dense/" + $0.name.dropFirst(5) : $0.name, $0.tensor) }
        assertBitForBit(nested.weights, renamed)

        XCTAssertThrowsError(try ForeignWeights.read(path: Self.good("flat.weights.h5"))) { error in
            XCTAssertTrue("\(error)".contains("name the architecture"), "\(error)")
        }
    }

    /// The base of the fixture's Keras model, as a zoo architecture would build it.
    static func tinyBase(head units: Int?) throws -> Model {
        let g = try GraphBuilder(inputShape: [8, 8, 3])
        var x = try g.add(Conv2D("conv1_conv", filters: 4, kernel: (3, 3)), g.input)
        x = try g.add(BatchNormalization("conv1_bn"), x)
        x = try g.add(SeparableConv2D("block1_sepconv1", filters: 4, kernel: (3, 3), useBias: false), x)
        x = try g.add(BatchNormalization("block1_sepconv1_bn", scale: false), x)
        x = try g.add(Conv2D("block2_conv", filters: 4, kernel: (1, 1), useBias: false), x)
        x = try g.add(GlobalPooling2D("avg_pool", .average), x)
        if let units { x = try g.add(Dense("predictions", units: units), x) }
        return g.model(name: "tiny", output: x)
    }
}
