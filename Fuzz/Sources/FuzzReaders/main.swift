import CFuzzer
import Foundation
import FuzzTargets

// SwiftPM makes an executable's main() its own (libFuzzer's is linked but not used), so ours
// picks the target FUZZ_TARGET names and starts libFuzzer's driver.
let name = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? ""
guard let chosen = FuzzTarget.all.first(where: { $0.name == name }) else {
    FileHandle.standardError.write(Data("set FUZZ_TARGET to one of: \(FuzzTarget.all.map(\.name).joined(separator: " "))\n".utf8))
    exit(2)
}
nonisolated(unsafe) let target = chosen
Scratch.removeAtExit()

/// One input. Errors are the readers' normal answer to bad bytes; the findings are crashes,
/// sanitizer reports, timeouts and memory blow-ups. -1 keeps an input out of the corpus.
/// (The C name is the one libFuzzer's unused main() refers to.)
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    guard target.accepts(bytes) else { return -1 }
    _ = try? target.run(bytes)
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
