import Foundation
import Core
import FineTune
import XCTest
import Zoo

/// Fine-tuning runs on a small colour-coded image set: freezing, BatchNorm policy, cached
/// features, optimizer state across phases, learning rates and failures.
final class FineTunerTests: XCTestCase {
    /// 48 images of 32×32 whose class (0–2) decides which colour channel is bright, plus noise.
    static func colourSet(count: Int = 48, seed: UInt64 = 1) throws -> InMemoryImages {
        var rng = SeededGenerator(seed: seed)
        var data: [Float] = []
        var labels: [Int] = []
        for i in 0..<count {
            let label = i % 3
            labels.append(label)
            for _ in 0..<(32 * 32) {
                for c in 0..<3 { data.append((c == label ? 1.0 : -0.5) + Float.random(in: -0.5...0.5, using: &rng)) }
            }
        }
        return try InMemoryImages(images: Tensor(shape: [count, 32, 32, 3], data: data), targets: .classes(labels))
    }

    static func resnet(seed: UInt64 = 7, dropout: Float = 0) throws -> Model {
        let base = try Architecture.resnet50.build(ModelOptions(inputHeight: 32, inputWidth: 32))
        base.initializeWeights(seed: seed)
        var head = HeadOptions(classes: 3)
        head.dropout = dropout
        head.seed = seed
        return try Head.attach(to: base, head)
    }

    private func snapshot(_ model: Model, where keep: (any Layer) -> Bool) -> [String: [Tensor]] {
        Dictionary(uniqueKeysWithValues: model.layers.filter(keep).map { ($0.name, $0.parameters.map(\.value)) })
    }

    private func settings(_ change: (inout FineTuneSettings) -> Void = { _ in }) -> FineTuneSettings {
        var s = FineTuneSettings()
        s.optimizer = OptimizerSettings(.adam)
        s.batchSize = 16
        s.seed = 3
        change(&s)
        return s
    }

    func testHeadThenUnfreezeLearnsAndFreezesWhatItShould() throws {
        let model = try Self.resnet()
        let data = try Self.colourSet()
        let tuner = try FineTuner(model: model, groups: Architecture.resnet50.layerGroups, settings: settings())
        XCTAssertEqual(try tuner.trainableParameterCount(from: "head"), 2048 * 3 + 3)
        let isConv5OrHead = { (layer: any Layer) in layer.name.hasPrefix("conv5_") || layer.name.hasPrefix("head_") }
        let conv5 = model.layers.filter(isConv5OrHead).flatMap(\.parameters).filter(\.trainable).reduce(0) { $0 + $1.value.count }
        XCTAssertEqual(try tuner.trainableParameterCount(from: "conv5"), conv5)

        let base = snapshot(model) { !$0.name.hasPrefix("head_") }
        let statistics = { self.snapshot(model) { $0 is BatchNormalization }.mapValues { Array($0.suffix(2)) } }
        let statisticsBefore = statistics()
        var phases: [(Int, Bool)] = []
        try tuner.run(Recipe([Phase("head", epochs: 4, learningRate: 1e-2)]), train: data, validation: data, events: { event in
            if case .phaseStarted(_, _, let count, let cached) = event { phases.append((count, cached)) }
        })
        XCTAssertEqual(phases.first?.1, true, "a head-only phase trains from cached features")
        XCTAssertTrue(snapshot(model) { !$0.name.hasPrefix("head_") } == base, "the frozen base must not change")
        XCTAssertGreaterThanOrEqual(tuner.history.last!.validationAccuracy!, 0.9)

        try tuner.run(Recipe([Phase("conv5", epochs: 1, learningRate: 1e-3)]), train: data)
        let after = snapshot(model) { !$0.name.hasPrefix("head_") }
        let below = after.keys.filter { !$0.hasPrefix("conv5_") }
        XCTAssertTrue(below.allSatisfy { after[$0]! == base[$0]! }, "below conv5 stays frozen")
        XCTAssertFalse(after["conv5_block1_1_conv"]! == base["conv5_block1_1_conv"]!, "conv5 trains")
        XCTAssertTrue(statistics() == statisticsBefore, "BatchNorm stays in inference mode by default")
    }

    func testTrainBatchNormUpdatesStatisticsOfUnfrozenGroupsOnly() throws {
        let model = try Self.resnet()
        let tuner = try FineTuner(model: model, groups: Architecture.resnet50.layerGroups,
                                  settings: settings { $0.trainBatchNorm = true })
        let moving = { (prefix: String) in
            model.layers.filter { $0 is BatchNormalization && $0.name.hasPrefix(prefix) }.map { $0.parameters.last!.value }
        }
        let (conv4, conv5) = (moving("conv4_"), moving("conv5_"))
        try tuner.run(Recipe([Phase("conv5", epochs: 1, learningRate: 1e-3)]), train: try Self.colourSet(count: 16))
        XCTAssertTrue(moving("conv4_") == conv4)
        XCTAssertFalse(moving("conv5_") == conv5)
    }

    /// Trains a fresh head with and without the feature cache; both must end with the same weights.
    private func assertCacheChangesNothing(_ data: LabeledImages, epochs: Int) throws {
        var heads: [[Tensor]] = []
        for cache in [true, false] {
            let model = try Self.resnet()
            let tuner = try FineTuner(model: model, groups: Architecture.resnet50.layerGroups,
                                      settings: settings { $0.cacheFeatures = cache })
            try tuner.run(Recipe([Phase("head", epochs: epochs, learningRate: 1e-2)]), train: data)
            heads.append(model.layer(named: "head_predictions")!.parameters.map(\.value))
        }
        for (a, b) in zip(heads[0], heads[1]) {
            XCTAssertLessThanOrEqual(a.maxAbsDifference(b), 1e-5 * max(b.maxMagnitude, 1))
        }
    }

    func testCachedFeaturesTrainTheHeadExactlyAsTheFullModel() throws {
        try assertCacheChangesNothing(try Self.colourSet(count: 24), epochs: 2)
    }

    /// View 1 mirrors each image left to right; view 0 is the image as it is.
    struct MirroredViews: LabeledImages {
        let source: InMemoryImages
        var count: Int { source.count }
        var imageShape: [Int] { source.imageShape }
        var augmentedViews: Int { 2 }

        func batch(_ indices: [Int], view: Int?) throws -> (images: Tensor, targets: Targets) {
            var (x, targets) = try source.batch(indices, view: nil)
            guard view == 1 else { return (x, targets) }
            let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
            let original = x
            for b in 0..<n { for i in 0..<h { for j in 0..<w { for k in 0..<c {
                x.data[((b * h + i) * w + j) * c + k] = original.data[((b * h + i) * w + (w - 1 - j)) * c + k]
            } } } }
            return (x, targets)
        }
    }

    func testCachedFeaturesCoverEveryAugmentedView() throws {
        try assertCacheChangesNothing(MirroredViews(source: try Self.colourSet(count: 24)), epochs: 3)
    }

    /// Records which views the run asks for.
    final class ViewLog: LabeledImages, @unchecked Sendable {
        let source: InMemoryImages
        private let lock = NSLock()
        private var asked: [Int?] = []
        init(_ source: InMemoryImages) { self.source = source }
        var count: Int { source.count }
        var imageShape: [Int] { source.imageShape }
        var augmentedViews: Int { 2 }
        var views: [Int?] { lock.withLock { asked } }

        func batch(_ indices: [Int], view: Int?) throws -> (images: Tensor, targets: Targets) {
            lock.withLock { asked.append(view) }
            return try source.batch(indices, view: nil)
        }
    }

    func testATrainingBaseSeesANewViewEveryEpochAndCachedFeaturesCycle() throws {
        let images = ViewLog(try Self.colourSet(count: 16))
        let tuner = try FineTuner(model: try Self.resnet(), groups: Architecture.resnet50.layerGroups, settings: settings())
        var phaseStarts: [Int] = []
        try tuner.run(Recipe([Phase("head", epochs: 3, learningRate: 1e-3), Phase("conv5", epochs: 3, learningRate: 1e-4)]),
                      train: images, events: { if case .phaseStarted = $0 { phaseStarts.append(images.views.count) } })
        // Head phase: base features of views 0 and 1, computed once (a batch of 16 each) and used in turn; then the labels.
        XCTAssertEqual(Array(images.views[phaseStarts[0]..<phaseStarts[1]]), [0, 1, nil])
        // conv5 on: the images themselves, a view per epoch.
        XCTAssertEqual(Array(images.views[phaseStarts[1]...]), [0, 1, 2])
    }

    /// Which of `layers` change their kernel in one SGD epoch from `group` on, with `change` applied to the settings.
    private func kernelsThatMove(from group: String, _ layers: [String], _ change: @escaping (inout FineTuneSettings) -> Void) throws -> [Bool] {
        let model = try Self.resnet()
        let tuner = try FineTuner(model: model, groups: Architecture.resnet50.layerGroups, settings: settings {
            $0.optimizer = OptimizerSettings(.sgd)
            change(&$0)
        })
        let before = layers.map { model.layer(named: $0)!.parameters[0].value }
        try tuner.run(Recipe([Phase(group, epochs: 1, learningRate: 1e-2)]), train: try Self.colourSet(count: 16))
        return zip(layers, before).map { model.layer(named: $0)!.parameters[0].value != $1 }
    }

    func testBaseMultiplierAndDiscriminativeRates() throws {
        // SGD without momentum: a parameter's step is rate × factor × gradient, so a factor of 0 keeps it still.
        XCTAssertEqual(try kernelsThatMove(from: "conv5", ["conv5_block3_3_conv", "head_predictions"]) { $0.baseLearningRateMultiplier = 0 },
                       [false, true])
        // A discriminative range from 0: the deepest trainable group (conv4) gets factor 0, the last (conv5) 1.
        XCTAssertEqual(try kernelsThatMove(from: "conv4", ["conv4_block1_1_conv", "conv5_block3_3_conv"]) { $0.discriminativeLowest = 0 },
                       [false, true])
    }

    func testAStoppedRunResumesToTheSameWeights() throws {
        let data = try Self.colourSet(count: 24)
        let recipe = Recipe([Phase("head", epochs: 2, learningRate: 1e-2), Phase("conv5", epochs: 2, learningRate: 1e-3)])
        let configure = settings { $0.baseLearningRateMultiplier = 0.5 }

        let whole = try Self.resnet(dropout: 0.3)
        try FineTuner(model: whole, groups: Architecture.resnet50.layerGroups, settings: configure).run(recipe, train: data)

        // Stop inside the second phase, carry weights and optimizer state to a new process-like tuner, continue.
        let first = try Self.resnet(dropout: 0.3)
        let stopping = try FineTuner(model: first, groups: Architecture.resnet50.layerGroups, settings: configure)
        var asked = 0
        // The stop comes after a pause of 2 s inside the epoch, which the resumed epoch's duration still counts.
        let outcome = try stopping.run(recipe, train: data, shouldStop: {
            asked += 1
            if asked == 8 { usleep(2_000_000) }
            return asked == 8
        })
        guard case .stopped(let position) = outcome else { return XCTFail("the run should have stopped") }
        XCTAssertEqual(position.phase, 1)
        XCTAssertGreaterThan(position.step, 0, "stopped inside an epoch")
        let encoded = try JSONEncoder().encode(position)  // positions travel as JSON
        let restored = try JSONDecoder().decode(RunPosition.self, from: encoded)
        // A state saved before epochs kept their time so far still resumes.
        var older = try JSONSerialization.jsonObject(with: encoded) as! [String: Any]
        var sums = older["sums"] as! [String: Any]
        XCTAssertNotNil(sums.removeValue(forKey: "seconds"))
        older["sums"] = sums
        XCTAssertNoThrow(try JSONDecoder().decode(RunPosition.self, from: JSONSerialization.data(withJSONObject: older)))

        let second = try Self.resnet(seed: 99, dropout: 0.3)
        let resuming = try FineTuner(model: second, groups: Architecture.resnet50.layerGroups, settings: configure)
        for (a, b) in zip(first.layers, second.layers) {
            for (p, q) in zip(a.parameters, b.parameters) {
                q.value = p.value
                if let state = stopping.optimizer.state(of: p) { resuming.optimizer.restore(state, for: q) }
            }
        }
        guard case .finished = try resuming.run(recipe, train: data, from: restored) else { return XCTFail("should finish") }
        XCTAssertEqual(resuming.history.count, 4)
        let interrupted = resuming.history.first { $0.phase == position.phase && $0.epoch == position.epoch }!
        XCTAssertGreaterThanOrEqual(interrupted.seconds, 2, "the epoch's time before the stop counts")
        for (a, b) in zip(whole.layers, second.layers) {
            XCTAssertTrue(a.parameters.map(\.value) == b.parameters.map(\.value), "\(a.name) differs after resuming")
        }
    }

    func testBadSchedulesAndDivergenceAreClearErrors() throws {
        let model = try Self.resnet()
        let data = try Self.colourSet(count: 16)
        let tuner = try FineTuner(model: model, groups: Architecture.resnet50.layerGroups, settings: settings())
        func fails(_ recipe: Recipe, _ fragment: String) {
            XCTAssertThrowsError(try tuner.run(recipe, train: data)) { XCTAssertTrue("\($0)".contains(fragment), "\($0)") }
        }
        fails(Recipe([Phase("mixed5", epochs: 1, learningRate: 1e-3)]), "unknown layer group 'mixed5'")
        fails(Recipe([Phase("head", epochs: 1, learningRate: 0)]), "must be above 0")
        fails(Recipe([Phase("head", epochs: 0, learningRate: 1e-3)]), "at least 1")
        fails(Recipe([]), "no phases")

        let wrongLabels = try InMemoryImages(images: data.images, targets: .classes(Array(repeating: 7, count: 16)))
        XCTAssertThrowsError(try tuner.run(Recipe([Phase("head", epochs: 1, learningRate: 1e-3)]), train: wrongLabels)) {
            XCTAssertTrue("\($0)".contains("label 7 is out of range for 3 classes"), "\($0)")
        }

        var sgd = settings()
        sgd.optimizer = OptimizerSettings(.sgd)
        let diverging = try FineTuner(model: model, groups: Architecture.resnet50.layerGroups, settings: sgd)
        XCTAssertThrowsError(try diverging.run(Recipe([Phase("conv5", epochs: 3, learningRate: 1e30)]), train: data)) {
            XCTAssertTrue("\($0)".contains("phase 1 (conv5), epoch"), "\($0)")
            XCTAssertTrue("\($0)".contains("last good step"), "\($0)")
        }
        XCTAssertTrue(model.layers.flatMap(\.parameters).allSatisfy { $0.value.data.allSatisfy(\.isFinite) },
                      "the weights of the last good step are kept")
    }
}
