import ArgumentParser
import Core
import DataParallel
import Foundation

struct FineTuneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Keras-exact ResNet50, VGG19, InceptionV3 and Xception on the CPU: a model zoo and fine-tuner.",
        discussion: """
        Exit codes: 0 success; 1 a file, model or run failed (the message says which and what to do); \
        64 a bad flag or argument; 130 a training run interrupted by Ctrl-C, SIGTERM or SIGHUP (its state is saved).
        """,
        version: "0.2.0",
        subcommands: [TrainCommand.self, EvaluateCommand.self, PredictCommand.self, SearchCommand.self, ExportCommand.self, ExportBaseCommand.self,
                      DataCommand.self, ZooCommand.self, ConvertCommand.self, EmbedCommand.self, BenchCommand.self],
        defaultSubcommand: TrainCommand.self)
}

lineBufferStandardOutput()
// Alone, the command says what it does rather than starting a training run with no flags.
if CommandLine.arguments.count == 1 {
    print(FineTuneCommand.helpMessage())
    exit(0)
}
do {
    var command = try FineTuneCommand.parseAsRoot()
    try command.run()
} catch {
    // Processes of a run that stopped together leave MPI together; any other failure exits at once, and mpirun
    // then ends the other processes rather than leave them waiting for this one.
    if let code = error as? ExitCode, code == ExitCode(130) { processes?.finalize() }
    FineTuneCommand.exit(withError: CommandWords.translate(error))
}
processes?.finalize()
