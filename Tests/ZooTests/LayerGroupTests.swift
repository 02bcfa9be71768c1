import Core
import XCTest
import Zoo

/// Every parameter belongs to exactly one named group, the groups are those the manifest lists,
/// and they run in network order.
final class LayerGroupTests: XCTestCase {
    func testEveryParameterBelongsToExactlyOneGroup() throws {
        for architecture in Architecture.allCases {
            let spec = try Manifest.shared.model(architecture)
            XCTAssertEqual(architecture.layerGroups.names, spec.layerGroups, architecture.rawValue)
            for top in [true, false] {
                let size = spec.minimumInputSize + 5
                let model = try architecture.build(ModelOptions(includeTop: top, inputHeight: size, inputWidth: size))
                let groups = try architecture.layerGroups.assign(model)
                var owners: [ObjectIdentifier: [String]] = [:]
                for layer in model.layers {
                    for parameter in layer.parameters {
                        owners[ObjectIdentifier(parameter), default: []].append(groups[layer.name]!)
                    }
                }
                let total = model.layers.reduce(0) { $0 + $1.parameters.count }
                XCTAssertEqual(owners.count, total, architecture.rawValue)
                XCTAssertTrue(owners.values.allSatisfy { $0.count == 1 }, architecture.rawValue)
                // Groups appear as contiguous runs, in the declared order.
                var seen: [String] = []
                for layer in model.layers where seen.last != groups[layer.name] { seen.append(groups[layer.name]!) }
                XCTAssertEqual(seen, Array(spec.layerGroups.prefix(seen.count)), architecture.rawValue)
                let parameterGroups = Set(model.layers.filter { !$0.parameters.isEmpty }.map { groups[$0.name]! })
                XCTAssertEqual(parameterGroups.count, top ? spec.layerGroups.count : spec.layerGroups.count - 1, architecture.rawValue)
            }
        }
    }

    func testParameterCountsMatchKeras() throws {
        // keras.applications at the default size (docs/keras-formats.md §7.1); resnet50_v1_5 as torchvision's.
        let expected: [(Architecture, Bool, Int)] = [
            (.resnet50, true, 25_636_712), (.resnet50, false, 23_587_712),
            (.inceptionV3, true, 23_851_784), (.inceptionV3, false, 21_802_784),
            (.xception, true, 22_910_480), (.xception, false, 20_861_480),
            (.vgg19, false, 20_024_384),
            // torchvision's resnet50 state dict, BatchNorm statistics included and step counters not.
            (.resnet50V1_5, true, 25_610_152), (.resnet50V1_5, false, 23_561_152),
        ]
        for (architecture, top, count) in expected {
            let size = try Manifest.shared.model(architecture).defaultInputSize
            let model = try architecture.build(ModelOptions(includeTop: top, inputHeight: size, inputWidth: size))
            XCTAssertEqual(model.parameterCount, count, "\(architecture.rawValue) top \(top)")
        }
    }

    func testInputBelowMinimumIsRejected() throws {
        XCTAssertThrowsError(try Architecture.xception.build(ModelOptions(inputHeight: 70, inputWidth: 100))) { error in
            XCTAssertTrue("\(error)".contains("at least 71x71"), "\(error)")
        }
    }
}
