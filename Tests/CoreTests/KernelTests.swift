import XCTest
import Core

/// The oneDNN-backed layers against plain loops, on shapes that exercise TensorFlow's padding rules.
final class KernelTests: XCTestCase {
    private func assertClose(_ a: Tensor, _ b: Tensor, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, message, file: file, line: line)
        guard a.shape == b.shape else { return }
        XCTAssertLessThanOrEqual(a.maxAbsDifference(b), 1e-5 * max(1, b.maxMagnitude), message, file: file, line: line)
    }

    private func run(_ layer: any Layer, _ inputs: [Tensor]) throws -> Tensor {
        _ = try layer.build(inputShapes: inputs.map { Array($0.shape.dropFirst()) })
        return try layer.forward(inputs)
    }

    func testPaddingFollowsTensorFlow() {
        // 112 with stride 2: TensorFlow pads nothing before and one after.
        XCTAssertTrue(Padding.same.geometry(input: 112, kernel: 3, stride: 2) == (56, 0, 1))
        XCTAssertTrue(Padding.same.geometry(input: 7, kernel: 3, stride: 2) == (4, 1, 1))
        XCTAssertTrue(Padding.same.geometry(input: 10, kernel: 1, stride: 2) == (5, 0, 0))
        XCTAssertTrue(Padding.valid.geometry(input: 7, kernel: 3, stride: 2) == (3, 0, 0))
    }

    func testConvolutionsMatchLoops() throws {
        let configs: [(kernel: (Int, Int), strides: (Int, Int), padding: Padding, bias: Bool)] = [
            ((3, 3), (1, 1), .same, true), ((3, 3), (2, 2), .same, false), ((1, 7), (1, 1), .same, false),
            ((7, 1), (1, 1), .same, true), ((7, 7), (2, 2), .valid, true), ((1, 1), (2, 2), .same, false),
            ((3, 3), (2, 2), .valid, false),
        ]
        for (index, config) in configs.enumerated() {
            let x = Reference.random([2, 10, 9, 5], seed: UInt64(index))
            let conv = Conv2D("c", filters: 4, kernel: config.kernel, strides: config.strides,
                              padding: config.padding, useBias: config.bias)
            _ = try conv.build(inputShapes: [[10, 9, 5]])
            conv.parameters[0].value = Reference.random(conv.parameters[0].shape, seed: 100 + UInt64(index))
            if config.bias { conv.parameters[1].value = Reference.random([4], seed: 200) }
            let expected = Reference.conv(x, conv.parameters[0].value, bias: config.bias ? conv.parameters[1].value.data : nil,
                                          strides: config.strides, padding: config.padding)
            assertClose(try conv.forward([x]), expected, "conv \(config)")
        }
    }

    func testWeightChangesReachTheCachedKernel() throws {
        let x = Reference.random([1, 6, 6, 3], seed: 1)
        let conv = Conv2D("c", filters: 2, kernel: (3, 3), padding: .same)
        _ = try conv.build(inputShapes: [[6, 6, 3]])
        _ = try conv.forward([x])
        conv.parameters[0].value = Reference.random(conv.parameters[0].shape, seed: 2)
        assertClose(try conv.forward([x]), Reference.conv(x, conv.parameters[0].value, bias: [0, 0], strides: (1, 1), padding: .same), "after update")
    }

    func testDepthwiseAndSeparableMatchLoops() throws {
        let x = Reference.random([2, 9, 8, 6], seed: 3)
        let depthwise = DepthwiseConv2D("d", kernel: (3, 3), strides: (2, 2), padding: .same, useBias: false)
        _ = try depthwise.build(inputShapes: [[9, 8, 6]])
        depthwise.parameters[0].value = Reference.random([3, 3, 6, 1], seed: 4)
        let spread = Reference.conv(x, depthwise.parameters[0].value, bias: nil, strides: (2, 2), padding: .same, depthwise: true)
        assertClose(try depthwise.forward([x]), spread, "depthwise")

        let separable = SeparableConv2D("s", filters: 5, kernel: (3, 3), strides: (2, 2), padding: .same, useBias: true)
        _ = try separable.build(inputShapes: [[9, 8, 6]])
        separable.parameters[0].value = depthwise.parameters[0].value
        separable.parameters[1].value = Reference.random([1, 1, 6, 5], seed: 5)
        separable.parameters[2].value = Reference.random([5], seed: 6)
        let expected = Reference.conv(spread, separable.parameters[1].value, bias: separable.parameters[2].value.data,
                                      strides: (1, 1), padding: .valid)
        assertClose(try separable.forward([x]), expected, "separable")
    }

    func testPoolingMatchesKerasRules() throws {
        let x = Reference.random([2, 8, 7, 3], seed: 7)
        for padding in [Padding.same, .valid] {
            for (kind, average) in [(Pooling2D.Kind.max, false), (.average, true)] {
                for strides in [(1, 1), (2, 2)] {
                    let layer = Pooling2D("p", kind, pool: (3, 3), strides: strides, padding: padding)
                    assertClose(try run(layer, [x]), Reference.pool(x, size: (3, 3), strides: strides, padding: padding, average: average),
                                "\(kind) \(padding) \(strides)")
                }
            }
        }
        // A 'same' 3×3 average at a corner averages the 4 in-bounds cells.
        let ones = Tensor(shape: [1, 2, 2, 1], data: [1, 2, 3, 4])
        let corner = try run(Pooling2D("a", .average, pool: (3, 3), strides: (1, 1), padding: .same), [ones])
        XCTAssertEqual(corner.data[0], 2.5, accuracy: 1e-6)
    }

    func testBatchNormalizationInference() throws {
        let bn = BatchNormalization("bn", epsilon: 1e-3, scale: true)
        _ = try bn.build(inputShapes: [[1, 1, 2]])
        bn.parameters[0].value = Tensor(shape: [2], data: [2, 0.5])      // gamma
        bn.parameters[1].value = Tensor(shape: [2], data: [0.1, -1])     // beta
        bn.parameters[2].value = Tensor(shape: [2], data: [1, 3])        // moving mean
        bn.parameters[3].value = Tensor(shape: [2], data: [4, 0.25])     // moving variance
        let y = try bn.forward([Tensor(shape: [1, 1, 1, 2], data: [3, 2])])
        XCTAssertEqual(y.data[0], (3 - 1) / (4 + 1e-3).squareRoot() * 2 + 0.1, accuracy: 1e-5)
        XCTAssertEqual(y.data[1], (2 - 3) / (0.25 + 1e-3).squareRoot() * 0.5 - 1, accuracy: 1e-5)

        let noGamma = BatchNormalization("bn2", scale: false)
        _ = try noGamma.build(inputShapes: [[1, 1, 2]])
        XCTAssertEqual(noGamma.parameters.map(\.name), ["beta", "moving_mean", "moving_variance"])
    }

    func testStructuralLayers() throws {
        let x = Tensor(shape: [1, 2, 2, 1], data: [1, 2, 3, 4])
        let padded = try run(ZeroPadding2D("z", Pads(top: 1, bottom: 0, left: 0, right: 1)), [x])
        XCTAssertEqual(padded.shape, [1, 3, 3, 1])
        XCTAssertEqual(padded.data, [0, 0, 0, 1, 2, 0, 3, 4, 0])

        let a = Tensor(shape: [1, 1, 2, 2], data: [1, 2, 3, 4])
        let b = Tensor(shape: [1, 1, 2, 1], data: [9, 8])
        XCTAssertEqual(try run(Concatenate("c"), [a, b]).data, [1, 2, 9, 3, 4, 8])
        XCTAssertEqual(try run(Add("add"), [a, a]).data, [2, 4, 6, 8])
        XCTAssertEqual(try run(Flatten("f"), [a]).shape, [1, 4])
        XCTAssertEqual(try run(GlobalPooling2D("g", .average), [a]).data, [2, 3])
        XCTAssertEqual(try run(GlobalPooling2D("m", .max), [a]).data, [3, 4])
        XCTAssertEqual(try run(Activation("r", .relu), [Tensor(shape: [1, 2], data: [-1, 2])]).data, [0, 2])
        let soft = try run(Activation("s", .softmax), [Tensor(shape: [1, 2], data: [0, 0])])
        XCTAssertEqual(soft.data, [0.5, 0.5])
    }

    func testDense() throws {
        let dense = Dense("d", units: 2, activation: .relu)
        _ = try dense.build(inputShapes: [[3]])
        dense.parameters[0].value = Tensor(shape: [3, 2], data: [1, -1, 2, -2, 3, -3])
        dense.parameters[1].value = Tensor(shape: [2], data: [0.5, 0.5])
        let y = try dense.forward([Tensor(shape: [2, 3], data: [1, 1, 1, 0, 0, 1])])
        XCTAssertEqual(y.data, [6.5, 0, 3.5, 0])
    }

    func testFusedInferenceEqualsLayerByLayer() throws {
        let g = try GraphBuilder(inputShape: [9, 8, 3])
        var x = try g.add(Conv2D("conv", filters: 4, kernel: (3, 3), padding: .same), g.input)
        x = try g.add(BatchNormalization("bn"), x)
        let y = try g.add(Activation("relu", .relu), x)
        let z = try g.add(Add("add"), y, y)
        let out = try g.add(Activation("out", .relu), z)
        let model = g.model(name: "m", output: out)
        model.initializeWeights(seed: 9)
        for (i, p) in model.layer(named: "bn")!.parameters.enumerated() {
            p.value = Tensor(shape: p.shape, data: Reference.random(p.shape, seed: UInt64(30 + i)).data.map { abs($0) + 0.2 })
        }
        let input = Reference.random([2, 9, 8, 3], seed: 10)
        var manual = input
        for name in ["conv", "bn", "relu"] { manual = try model.layer(named: name)!.forward([manual]) }
        manual = try model.layer(named: "out")!.forward([try model.layer(named: "add")!.forward([manual, manual])])
        assertClose(try model.predict(input), manual, "fused plan")
    }

    func testKerasLayerOrderIsDepthThenFirstVisit() throws {
        // Depth is the longest path to the output; equal depths keep the order a walk from the
        // output first reaches them (Add's inputs left to right), as ResNet's conv2_block1_0_conv
        // comes before conv2_block1_3_conv.
        let g = try GraphBuilder(inputShape: [4, 4, 2], inputName: "in")
        let b1 = try g.add(Conv2D("long1", filters: 2, kernel: (1, 1)), g.input)
        let b2 = try g.add(Conv2D("long2", filters: 2, kernel: (1, 1)), b1)
        let short = try g.add(Conv2D("short", filters: 2, kernel: (1, 1)), g.input)
        let sum = try g.add(Add("sum"), short, b2)
        let model = g.model(name: "m", output: sum)
        XCTAssertEqual(model.layers.map(\.name), ["in", "long1", "short", "long2", "sum"])
    }

    func testBadInputIsAClearError() throws {
        let g = try GraphBuilder(inputShape: [8, 8, 3])
        let model = g.model(name: "tiny", output: try g.add(Conv2D("c", filters: 1, kernel: (3, 3)), g.input))
        XCTAssertThrowsError(try model.predict(Tensor(zeros: [1, 8, 8, 1]))) { error in
            XCTAssertTrue("\(error)".contains("expects input batches of shape N x 8x8x3"), "\(error)")
        }
        XCTAssertThrowsError(try GraphBuilder(inputShape: [2, 2, 3]).add(Conv2D("c", filters: 1, kernel: (3, 3)), NodeRef(index: 0))) { error in
            XCTAssertTrue("\(error)".contains("does not fit"), "\(error)")
        }
    }
}
