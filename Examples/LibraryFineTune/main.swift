// Fine-tuning from Swift, without the command line: ResNet50 on 30 Fashion-MNIST images per class
// of the five footwear-and-bag classes, head first, then conv5 at a reduced rate.
//
//   swift run -c release library-finetune-example [resnet50_notop.h5]
//
// Without a weights file the base starts from random weights (then expect little transfer).
import Core
import FineTune
import Foundation
import Zoo
import ZooIO

let root = "/usr/share/datasets/fashion-mnist"   // Debian's dataset-fashion-mnist
let classes = [5, 6, 7, 8, 9]                     // Sandal, Shirt, Sneaker, Bag, Ankle boot
let size = 32
let spec = try Manifest.shared.model(.resnet50)

func load(_ split: String, perClass: Int) throws -> InMemoryImages {
    let set = try IDXImages(images: "\(root)/\(split)-images-idx3-ubyte.gz", labels: "\(root)/\(split)-labels-idx1-ubyte.gz")
    let picked = set.indices(of: classes, perClass: perClass)
    return try InMemoryImages(images: set.batch(picked, size: size, preprocessing: spec.preprocessing),
                              targets: .classes(picked.map { classes.firstIndex(of: set.labels[$0])! }))
}

let train = try load("train", perClass: 30)
let test = try load("t10k", perClass: 100)

let base = try Architecture.resnet50.build(ModelOptions(inputHeight: size, inputWidth: size))
if CommandLine.arguments.count > 1 {
    print(try Weights.load(into: base, from: CommandLine.arguments[1]).summary)
} else {
    base.initializeWeights(seed: 1)
}
var head = HeadOptions(classes: classes.count)
head.dropout = 0.2
let model = try Head.attach(to: base, head)

var settings = FineTuneSettings()
settings.batchSize = 30
settings.baseLearningRateMultiplier = 0.1   // the reduced rate for unfrozen base groups
let tuner = try FineTuner(model: model, groups: Architecture.resnet50.layerGroups, settings: settings)
let recipe = Recipe.standard(architecture: .resnet50, headEpochs: 10, unfreezeEpochs: 3, learningRate: 1e-3)
try tuner.run(recipe, train: train, validation: test, events: { event in
    switch event {
    case .phaseStarted(let index, let phase, let parameters, let cached):
        print("phase \(index + 1): \(phase.deepestGroup) for \(phase.epochs) epochs at \(phase.learningRate), \(parameters) trainable parameters\(cached ? ", cached base features" : "")")
    case .epochEnded(let r, _):
        print(String(format: "  epoch %d: loss %.4f, accuracy %.3f, validation accuracy %.3f, %.1f s",
                     r.epoch + 1, r.loss, r.accuracy, r.validationAccuracy ?? 0, r.seconds))
    default:
        break
    }
})
let (loss, accuracy) = try tuner.evaluate(model, test)
print(String(format: "test: loss %.4f, accuracy %.3f on %d images", loss, accuracy, test.count))
try Weights.saveLegacy(model, to: "fashion-mnist-finetuned.h5")
print("saved fashion-mnist-finetuned.h5")
