import ArgumentParser
import Core
import Foundation
import Zoo
import ZooIO

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-base",
        abstract: "Write a checkpoint's base (without its head) as a Keras weights file, the layout of the published no-top files.",
        discussion: """
        The file loads with --weights FILE in finetune, and with model.load_weights(FILE) into \
        keras.applications.NAME(include_top=False, weights=None) in Keras: a base pretrained on your data.
        Example:
          finetune export-base --model runs/pretrain/best.h5 \\
            --output resnet50_fmnist_notop.h5
        """)

    @Option(name: .long, help: "A checkpoint (best.h5 or last.h5 of a training run).")
    var model: String

    @Option(name: .long, help: "Where to write the base's weights (.h5).")
    var output: String

    func run() throws {
        try DurableFile.checkWritable(output)
        let (net, info) = try Checkpoint.load(model)
        guard let pool = net.nodeIndex(ofLayer: "head_pool") else { throw ModelError("\(model) has no head to leave out") }
        let base = net.prefix(through: net.nodes[pool].inputs[0])
        try Weights.saveLegacy(base, to: output)
        print("wrote \(output): \(info.base) without top, \(base.weightedLayers.count) layers with weights, input \(info.imageSize)x\(info.imageSize)")
    }
}
