import ArgumentParser
import Core
import Foundation
import Zoo

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure inference speed; the last line is `images/s: X`.",
        discussion: """
        scripts/bench.sh runs this next to TensorFlow on the same machine and prints the ratio.
        Example: finetune bench --base resnet50 --batch-size 32
        """)

    @Option(name: .long, help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var base: Architecture

    @Option(name: .long, help: "Images per batch.")
    var batchSize: Int = 32

    @Option(name: .long, help: "Input height and width (default: the model's own).")
    var imageSize: Int?

    @Option(name: .long, help: "Timed batches after one warm-up batch.")
    var iterations: Int = 5

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if iterations < 1 { throw ValidationError("--iterations must be at least 1") }
    }

    func run() throws {
        let spec = try Manifest.shared.model(base)
        let size = imageSize ?? spec.defaultInputSize
        let model = try base.build(ModelOptions(includeTop: true, inputHeight: size, inputWidth: size))
        model.initializeWeights(seed: 1)
        var rng = SeededGenerator(seed: 2)
        let x = Tensor(shape: [batchSize, size, size, 3],
                       data: (0..<(batchSize * size * size * 3)).map { _ in Float.random(in: -1...1, using: &rng) })
        _ = try model.predict(x)
        let clock = ContinuousClock()
        var seconds: [Double] = []
        for _ in 0..<iterations {
            let elapsed = try clock.measure { _ = try model.predict(x) }
            seconds.append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
        let median = seconds.sorted()[seconds.count / 2]
        print("\(base.rawValue) \(size)x\(size) batch \(batchSize): median \(String(format: "%.3f", median)) s per batch over \(iterations)")
        print("images/s: \(String(format: "%.2f", Double(batchSize) / median))")
    }
}
