import Core
import Foundation
import TestSupport
import XCTest
import KerasFiles

/// `mpirun -np 2 finetune train`: two processes, one thread each, train the model one process trains on the
/// same batches; a process that dies ends the run.
final class DataParallelTests: XCTestCase {
    /// What Open MPI needs as root and in a container, and one thread per process on two cores.
    static let environment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMP_NUM_THREADS": "1",
                              "OMPI_MCA_btl_vader_single_copy_mechanism": "none"]

    private func requireMPI() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/mpirun") else { throw XCTSkip("Open MPI's mpirun is not installed") }
    }

    /// A short run from the Keras fixture weights: SGD, no dropout, batches of 8 (4 per process), 3 steps.
    private func arguments(data: String, output: String, schedule: String, batchNorm: [String]) -> [String] {
        ["train", "--base", "resnet50", "--data", data, "--weights", "\(CLI.fixtures)/resnet50_notop.weights.h5", "--image-size", "32",
         "--schedule", schedule, "--optimizer", "sgd", "--batch-size", "8", "--dropout", "0", "--val-split", "0.25",
         "--output", output] + batchNorm
    }

    private func mpirun(_ launcher: [String], _ arguments: [String]) throws -> ProcessResult {
        try execute(URL(fileURLWithPath: launcher[0]), Array(launcher.dropFirst()) + [CLI.binary.path] + arguments, environment: Self.environment)
    }

    static let oneHost = ["/usr/bin/mpirun", "--oversubscribe", "-np", "2"]

    /// Trains once alone and once under `launcher`, and compares every weight of the two last.h5.
    private func assertSameTraining(schedule: String = "all:1@1e-4", batchNorm: [String] = [], launcher: [String] = oneHost,
                                    file: StaticString = #filePath, line: UInt = #line) throws {
        try requireMPI()
        let directory = try temporaryDirectory("mpi")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try CLI.fashionMNISTFolders(in: directory, perClass: 16)
        let (one, two) = (directory.appendingPathComponent("one").path, directory.appendingPathComponent("two").path)
        let alone = try CLI.run(arguments(data: data, output: one, schedule: schedule, batchNorm: batchNorm), environment: ["OMP_NUM_THREADS": "1"])
        XCTAssertEqual(alone.status, 0, alone.stderr, file: file, line: line)
        let parallel = try mpirun(launcher, arguments(data: data, output: two, schedule: schedule, batchNorm: batchNorm))
        // The run checks after every epoch that both processes hold the same bits of every weight and optimizer slot.
        XCTAssertEqual(parallel.status, 0, parallel.stdout + parallel.stderr, file: file, line: line)
        XCTAssertEqual(parallel.stdout.components(separatedBy: "phase 1/").count, 2, "rank 0 alone prints:\n\(parallel.stdout)", file: file, line: line)
        let (a, _) = try Checkpoint.load("\(one)/last.h5")
        let (b, _) = try Checkpoint.load("\(two)/last.h5")
        var worst: Float = 0
        for (layer, other) in zip(a.layers, b.layers) {
            for (p, q) in zip(layer.parameters, other.parameters) {
                let scale = max(p.value.data.map(abs).max() ?? 0, 1e-6)
                let difference = zip(p.value.data, q.value.data).map { abs($0 - $1) }.max() ?? 0
                worst = max(worst, difference / scale)
            }
        }
        print("largest difference from one process, relative to each tensor's largest value: \(worst)")
        XCTAssertLessThan(worst, 1e-5, file: file, line: line)
    }

    func testTwoProcessesTrainAsOneWithBatchNormInInferenceMode() throws {
        try assertSameTraining()
    }

    /// The head phase from base features each process computes for its share of the images, then conv5.
    func testCachedFeaturesHeadPhaseThenConv5TrainAsOne() throws {
        try assertSameTraining(schedule: "head:2@1e-3,conv5:1@1e-4")
    }

    /// conv5 and the head train, conv5's BatchNorm in training mode. (With every group's BatchNorm learning on
    /// batches this small, a randomly initialised ResNet50 is chaotic: the float rounding that tells synchronised
    /// statistics from oneDNN's grows past 1e-5 within three steps.)
    func testTwoProcessesWithSynchronisedBatchNormTrainAsOne() throws {
        try assertSameTraining(schedule: "conv5:1@1e-4", batchNorm: ["--train-bn", "--sync-bn"])
    }

    /// Two network namespaces joined by a veth pair stand for two hosts, 10.77.0.1 and 10.77.0.2; mpirun runs in the
    /// first and starts the second's process through an rsh agent that enters its namespace; MPI talks TCP between them.
    func testTwoHostsOverTCPTrainAsOne() throws {
        try requireMPI()
        guard getuid() == 0 else { throw XCTSkip("network namespaces need root") }
        let directory = try temporaryDirectory("mpi-hosts")
        defer { try? FileManager.default.removeItem(at: directory) }
        let hosts = TwoHosts(directory: directory)
        defer { hosts.remove() }
        guard let failure = hosts.create() else {
            return try assertSameTraining(launcher: hosts.launcher)
        }
        throw XCTSkip("cannot make network namespaces here: \(failure)")
    }

    /// SIGTERM stops both processes at the same step with one resume.h5, even when it reaches only one; resumed under
    /// mpirun, the run ends with the weights of a run that never stopped (each process's dropout masks included), and
    /// a single process refuses it.
    func testStoppedRunResumesUnderTheSameProcessCount() throws {
        try requireMPI()
        let directory = try temporaryDirectory("mpi-stop")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try CLI.fashionMNISTFolders(in: directory, perClass: 32)
        let (whole, stopped) = (directory.appendingPathComponent("whole").path, directory.appendingPathComponent("stopped").path)
        let training = ["train", "--base", "resnet50", "--data", data, "--weights", "none", "--image-size", "32", "--schedule", "all:3@1e-4",
                        "--optimizer", "sgd", "--batch-size", "8", "--val-split", "0.25"]
        let uninterrupted = try mpirun(Self.oneHost, training + ["--output", whole])
        XCTAssertEqual(uninterrupted.status, 0, uninterrupted.stdout + uninterrupted.stderr)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.oneHost[0])
        process.arguments = Array(Self.oneHost.dropFirst()) + [CLI.binary.path] + training + ["--output", stopped]
        process.environment = ProcessInfo.processInfo.environment.merging(Self.environment) { $1 }
        let log = directory.appendingPathComponent("stopped.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let output = try FileHandle(forWritingTo: log)
        (process.standardOutput, process.standardError) = (output, output)
        try process.run()
        // Stopped in the second epoch: once the first is in history.csv (a header and one row).
        let history = "\(stopped)/history.csv"
        let deadline = Date().addingTimeInterval(300)
        while process.isRunning, Date() < deadline,
              ((try? String(contentsOfFile: history, encoding: .utf8)) ?? "").split(separator: "\n").count < 2 {
            Thread.sleep(forTimeInterval: 0.1)
        }
        // mpirun passes SIGTERM on to every process (checked by hand, see docs/scaling.md); here it reaches one only,
        // and both must still stop at the same step.
        let rank1 = try XCTUnwrap(Self.process(withRank: 1))
        kill(rank1, SIGTERM)
        process.waitUntilExit()
        let printed = try String(contentsOf: log, encoding: .utf8)
        XCTAssertEqual(printed.components(separatedBy: "interrupted in phase 1, epoch 2").count, 2, "rank 0 alone reports the stop:\n\(printed)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(stopped)/resume.h5"), printed)

        assertUserError(try CLI.run(["train", "--resume", stopped]), status: 1, ["saved by 2 processes, not 1"])
        let resumed = try mpirun(Self.oneHost, ["train", "--resume", stopped])
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        let (a, _) = try Checkpoint.load("\(whole)/last.h5")
        let (b, _) = try Checkpoint.load("\(stopped)/last.h5")
        for (layer, other) in zip(a.layers, b.layers) {
            for (p, q) in zip(layer.parameters, other.parameters) { XCTAssertEqual(p.value.data, q.value.data, "\(layer.name)/\(p.name)") }
        }
    }

    func testAKilledProcessEndsTheRunWithinSeconds() throws {
        try requireMPI()
        let directory = try temporaryDirectory("mpi-kill")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = try CLI.fashionMNISTFolders(in: directory, perClass: 64)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.oneHost[0])
        process.arguments = Array(Self.oneHost.dropFirst()) + [CLI.binary.path, "train", "--base", "resnet50", "--data", data, "--weights", "none",
                                                              "--image-size", "32", "--schedule", "all:20@1e-4", "--batch-size", "8",
                                                              "--output", directory.appendingPathComponent("run").path]
        process.environment = ProcessInfo.processInfo.environment.merging(Self.environment) { $1 }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        var printed = ""
        while !printed.contains("phase 1/1:") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            printed += String(decoding: chunk, as: UTF8.self)
        }
        let victim = try XCTUnwrap(Self.process(withRank: 1), "no process of rank 1:\n\(printed)")
        let killed = Date()
        kill(victim, SIGKILL)
        printed += String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(killed)
        XCTAssertLessThan(seconds, 30, printed)
        XCTAssertNotEqual(process.terminationStatus, 0, printed)
        XCTAssertTrue(printed.contains("rank 1"), "the message names the process that died:\n\(printed)")
        XCTAssertNil(Self.process(withRank: 0), "rank 0 is gone too")
        print("the run ended \(String(format: "%.1f", seconds)) s after rank 1 was killed, exit status \(process.terminationStatus)")
    }

    /// The finetune process Open MPI started as `rank`, found by its environment.
    private static func process(withRank rank: Int) -> pid_t? {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = pid_t(entry),
                  let command = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8), command.hasPrefix(CLI.binary.path),
                  let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if environ.split(separator: 0).contains(Data("OMPI_COMM_WORLD_RANK=\(rank)".utf8)) { return pid }
        }
        return nil
    }
}

/// Two network namespaces, ftA and ftB, joined by a veth pair: each a host with its own address.
private struct TwoHosts {
    let directory: URL
    static let names = ["ftA": "10.77.0.1", "ftB": "10.77.0.2"]

    /// The rsh agent mpirun calls as `agent HOST COMMAND…`: the command runs in that host's namespace.
    var agent: String { directory.appendingPathComponent("netns-agent").path }

    /// mpirun in the first namespace, one process on each host, TCP over the veth pair only; unbound, since each
    /// namespace's daemon would otherwise bind its process to the same core of this one machine.
    var launcher: [String] {
        ["/usr/sbin/ip", "netns", "exec", "ftA", "/usr/bin/mpirun", "--bind-to", "none", "--mca", "plm_rsh_agent", agent, "--mca", "btl", "tcp,self",
         "--mca", "btl_tcp_if_include", "10.77.0.0/24", "--mca", "oob_tcp_if_include", "10.77.0.0/24",
         "-x", "OMP_NUM_THREADS", "-H", "10.77.0.1,10.77.0.2", "-np", "2"]
    }

    /// Makes the namespaces and the agent; nil, or why it could not.
    func create() -> String? {
        remove()
        let script = """
        #!/bin/sh
        host=$1; shift
        case $host in 10.77.0.1) ns=ftA;; 10.77.0.2) ns=ftB;; *) echo "no host $host" >&2; exit 1;; esac
        exec ip netns exec $ns sh -c "$*"
        """
        do {
            try script.write(toFile: agent, atomically: true, encoding: .utf8)
            chmod(agent, 0o755)
        } catch { return "\(error)" }
        let setup = """
        set -e
        ip netns add ftA; ip netns add ftB
        ip link add ftvA type veth peer name ftvB
        ip link set ftvA netns ftA; ip link set ftvB netns ftB
        ip -n ftA addr add 10.77.0.1/24 dev ftvA; ip -n ftA link set ftvA up; ip -n ftA link set lo up
        ip -n ftB addr add 10.77.0.2/24 dev ftvB; ip -n ftB link set ftvB up; ip -n ftB link set lo up
        """
        guard let result = try? execute(URL(fileURLWithPath: "/bin/sh"), ["-c", setup]) else { return "cannot run /bin/sh" }
        return result.status == 0 ? nil : result.stderr
    }

    /// Deleting a namespace deletes its end of the veth pair, and with it the other end.
    func remove() {
        for name in Self.names.keys.sorted() { _ = try? execute(URL(fileURLWithPath: "/usr/sbin/ip"), ["netns", "del", name]) }
    }
}
