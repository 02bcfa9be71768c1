import ArgumentParser
import Core
import DataParallel
import FineTune
import Foundation
import ImageData
import Zoo

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure speed; the last line is `images/s: X`.",
        discussion: """
        Modes: infer (a forward pass), train (one full training step, every layer trainable, BatchNorm \
        in training mode, SGD), head (a 5-epoch head-only phase on --images random images: the frozen \
        base runs once, the head trains from cached features), data (the input pipeline: decode, resize \
        and preprocess every image of --data, on every core). scripts/bench.sh runs these next to \
        TensorFlow on the same machine and prints the ratio.
        Examples:
          finetune bench --base resnet50 --batch-size 32
          finetune bench --base resnet50 --mode train
          finetune bench --base xception --mode head --images 256
        """)

    enum Mode: String, ExpressibleByArgument, CaseIterable { case infer, train, head, data }

    @Option(name: .long, help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var base: Architecture

    @Option(name: .long, help: "What to time: infer, train, head or data.")
    var mode: Mode = .infer

    @Option(name: .long, parsing: .unconditional, help: "Images per batch.")
    var batchSize: Int = 32

    @Option(name: .long, parsing: .unconditional, help: "Input height and width (default: the model's own).")
    var imageSize: Int?

    @Option(name: .long, parsing: .unconditional, help: "Timed batches after one warm-up batch (infer, train).")
    var iterations: Int = 5

    @Option(name: .long, parsing: .unconditional, help: "Images in the head-mode data set.")
    var images: Int = 256

    @Option(name: .long, help: "Data mode: a folder of class sub-folders to decode, resize and preprocess.")
    var data: String?

    @Option(name: .long, parsing: .unconditional, help: "Data mode: gigabytes of decoded images held in memory (0: decode every batch from the files).")
    var imageMemory: Double = Double(ImageFolder.defaultMemoryBudget) / Double(1 << 30)

    @OptionGroup var precision: PrecisionOptions

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if iterations < 1 { throw ValidationError("--iterations must be at least 1") }
        if images < 1 { throw ValidationError("--images must be at least 1") }
        if let processes, batchSize < processes.size {
            throw ValidationError("--batch-size \(batchSize) is smaller than the \(processes.size) processes: each needs at least one image")
        }
        if mode == .data && data == nil { throw ValidationError("--mode data needs --data FOLDER") }
        try validateImageSize(imageSize, base: base)
    }

    func run() throws {
        announce(precision.precision)
        let spec = try Manifest.shared.model(base)
        let size = imageSize ?? spec.defaultInputSize
        if mode == .data, let data {
            let start = Date()
            let folder = try ImageFolder(root: data, size: size, memoryBudget: Int(imageMemory * Double(1 << 30)))
            let read = Date()
            for from in stride(from: 0, to: folder.count, by: batchSize) {
                _ = folder.images(Array(from..<min(from + batchSize, folder.count)), preprocessing: spec.preprocessing)
            }
            let (reading, batches) = (read.timeIntervalSince(start), Date().timeIntervalSince(read))
            let how = folder.streams ? "checked, then decoded again for each batch" : "decoded once and held"
            print("\(data): \(folder.count) images at \(size)x\(size), \(how); read in \(String(format: "%.2f", reading)) s, batches in \(String(format: "%.2f", batches)) s; peak memory \(String(format: "%.2f", ProcessMemory.peakGB)) GB")
            // Streaming decodes in the batches; held images were decoded while reading.
            print("images/s: \(String(format: "%.2f", Double(folder.count) / (folder.streams ? batches : reading + batches)))")
            return
        }
        let backbone = try base.build(ModelOptions(inputHeight: size, inputWidth: size))
        backbone.initializeWeights(seed: 1)
        let model = try Head.attach(to: backbone, HeadOptions(classes: 1000))
        var rng = SeededGenerator(seed: 2)
        func randomBatch(_ n: Int) -> Tensor {
            Tensor(shape: [n, size, size, 3], data: (0..<(n * size * size * 3)).map { _ in Float.random(in: -1...1, using: &rng) })
        }
        let label = "\(base.rawValue) \(size)x\(size)"
        switch mode {
        case .data:
            return  // timed above, without a model
        case .infer:
            let x = randomBatch(batchSize)
            let seconds = try median { _ = try model.predict(x) }
            print("\(label) inference, batch \(batchSize): median \(String(format: "%.3f", seconds)) s per batch over \(iterations)")
            print("images/s: \(String(format: "%.2f", Double(batchSize) / seconds))")
        case .train:
            // Under mpirun each process trains its share of the batch and the gradients are summed over all.
            let share = processes.map { $0.share(of: Array(0..<batchSize)).count } ?? batchSize
            let x = randomBatch(share)
            let labels = Targets.classes((0..<share).map { $0 % 1000 })
            let training = try GraphTraining(model: model, trainableLayers: Set(model.layers.map(ObjectIdentifier.init)))
            var context = TrainingContext(seed: 3)
            context.batchNormTraining = Set(model.layers.compactMap { $0 as? BatchNormalization }.map(ObjectIdentifier.init))
            if processes != nil { context.globalBatch = batchSize }
            let optimizer = Optimizer(OptimizerSettings(.sgd))
            let parameters = model.layers.flatMap(\.parameters).filter(\.trainable)
            let step = {
                let (_, gradients, _) = try training.lossAndGradients(x, labels, loss: Loss(.softmaxCrossEntropy), context: &context,
                                                                      exchange: processes?.gradientExchange())
                optimizer.apply(gradients, to: parameters) { _ in 1e-3 }
            }
            let seconds = try median(step)
            let memory = processes?.gather([Float(ProcessMemory.peakGB)]) ?? [Float(ProcessMemory.peakGB)]
            guard processes?.rank ?? 0 == 0 else { return }
            print("\(label) training step (all layers, BatchNorm training), batch \(batchSize): median \(String(format: "%.3f", seconds)) s over \(iterations)")
            if let processes {
                let wait = processes.waitSeconds / Double(max(processes.exchanges, 1))
                print("\(processes.size) processes, \(share) images each; waiting for the gradient sum: \(String(format: "%.3f", wait)) s per step (mean over \(processes.exchanges) steps)")
            }
            print("peak memory: \(memory.map { String(format: "%.2f", $0) }.joined(separator: ", ")) GB\(memory.count > 1 ? " (per process)" : "")")
            print("images/s: \(String(format: "%.2f", Double(batchSize) / seconds))")
        case .head:
            let data = try InMemoryImages(images: randomBatch(images), targets: .classes((0..<images).map { $0 % 10 }))
            var settings = FineTuneSettings()
            settings.batchSize = batchSize
            let start = Date()
            let tuner = try FineTuner(model: model, groups: base.layerGroups, settings: settings)
            try tuner.run(Recipe([Phase(Head.group, epochs: 5, learningRate: 1e-3)]), train: data)
            let seconds = Date().timeIntervalSince(start)
            print("\(label) head phase, 5 epochs over \(images) images (cached base features): \(String(format: "%.2f", seconds)) s")
            print("images/s: \(String(format: "%.2f", Double(5 * images) / seconds))")
        }
    }

    /// One warm-up run, then the median of `iterations` timed runs, in seconds.
    private func median(_ body: () throws -> Void) throws -> Double {
        try body()
        let clock = ContinuousClock()
        var seconds: [Double] = []
        for _ in 0..<iterations {
            let elapsed = try clock.measure(body)
            seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
        return seconds.sorted()[seconds.count / 2]
    }
}
