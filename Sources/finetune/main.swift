import ArgumentParser
import CKernels


struct FineTuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Keras-exact ResNet50, VGG19, InceptionV3 and Xception on the CPU: a model zoo and fine-tuner.",
        discussion: """
        Exit codes: 0 success; 1 a file, model or run failed (the message says which and what to do); \
        64 a bad flag or argument.
        """,
        subcommands: [TrainCommand.self, EvaluateCommand.self, PredictCommand.self, SearchCommand.self, ExportCommand.self,
                      DataCommand.self, ZooCommand.self, EmbedCommand.self, BenchCommand.self],
        defaultSubcommand: TrainCommand.self)
}

ck_line_buffer_output()
FineTuneCommand.main()
