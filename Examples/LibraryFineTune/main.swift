import ImageData
// Fine-tuning from Swift, without the command line: a run that checkpoints, stops, resumes, and is then
// scored on its validation images; the run writes report.html itself.
//
//   swift run -c release library-finetune-example DATA [BASE] [RUN_FOLDER] [WEIGHTS.h5]
//
// DATA is any layout `finetune train` reads (class sub-folders, CSV, IDX files, .npz). Without a weights
// file the base starts from random weights.
import FineTune
import Foundation
import Zoo

let arguments = CommandLine.arguments.dropFirst().map { $0 }
guard let data = arguments.first else { fatalError("usage: library-finetune-example DATA [BASE] [RUN_FOLDER] [WEIGHTS.h5]") }
let base = Architecture(rawValue: arguments.count > 1 ? arguments[1] : "small_cnn")!

var options = RunConfiguration.DataOptions(path: data)
options.imageSize = 32
var config = RunConfiguration(base: base, data: options, phases: [Phase("head", epochs: 2, learningRate: 1e-3),
                                                                 Phase("all", epochs: 2, learningRate: 1e-3)],
                              phasesDescription: "head 2, then all 2")
config.weights = arguments.count > 3 ? .file(arguments[3]) : .none
config.batchSize = 16
let folder = try RunFolder.claim(arguments.count > 2 ? arguments[2] : "runs/library-example", replace: true)

func show(_ event: RunEvent) {
    if case .training(.epochEnded(let r, _)) = event {
        print(String(format: "phase %d epoch %d: loss %.4f, validation accuracy %.3f", r.phase + 1, r.epoch + 1, r.loss, r.validationAccuracy ?? 0))
    }
}

// Stop after the first epoch, as Ctrl-C would: the state goes to resume.h5.
var epochs = 0
let first = try TrainingRun(config, folder: folder).run(events: { event in
    show(event)
    if case .training(.epochEnded) = event { epochs += 1 }
}, shouldStop: { epochs >= 1 })
if case .stopped(let position) = first { print("stopped in phase \(position.phase + 1); resuming") }

// Resume from the folder alone: the configuration is in resume.h5.
guard case .finished(let best?, _, _, _, _) = try TrainingRun.resuming(folder).run(resume: true, events: show) else { exit(1) }
print(String(format: "best validation accuracy %.3f; report: %@", best.validationAccuracy ?? 0, folder.report.path))

// Score the best checkpoint on the images the run validated on (split.json lists them).
let evaluation = try Evaluation(checkpoint: folder.best.path)
let images = try ImageFolder.anyLayout(data, size: evaluation.info.imageSize, classes: evaluation.info.classes, idxPrefix: "train")
let scores = try evaluation.scores(images, indices: folder.validationIndices(in: images, data: data))
print(String(format: "validation: accuracy %.3f, macro F1 %.3f on %d images", scores.accuracy, scores.macroF1, scores.images))
