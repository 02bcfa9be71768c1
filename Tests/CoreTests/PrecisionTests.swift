import Core
import Foundation
import XCTest

/// Which precision runs, given the one asked for and the processor.
final class PrecisionTests: XCTestCase {
    func testFloat32RunsAsAskedOnAnyProcessor() {
        for native in [false, true] {
            let choice = PrecisionChoice(.float32, features: ProcessorFeatures(nativeBFloat16: native))
            XCTAssertEqual(choice.effective, .float32)
            XCTAssertNil(choice.note)
        }
    }

    func testBFloat16WithoutNativeSupportRunsFloat32AndSaysWhyInOneLine() throws {
        let choice = PrecisionChoice(.bf16, features: ProcessorFeatures(nativeBFloat16: false))
        XCTAssertEqual(choice.requested, .bf16)
        XCTAssertEqual(choice.effective, .float32)
        let note = try XCTUnwrap(choice.note)
        XCTAssertTrue(note.contains("no native bfloat16 (avx512_bf16)"), note)
        XCTAssertFalse(note.contains("\n"))
        XCTAssertFalse(note.contains("--"), "library messages name no flag: \(note)")
    }

    /// No bfloat16 kernel is built yet, so a processor that has BF16 is told that instead of being given float32 in silence.
    func testBFloat16OnANativeProcessorSaysItsKernelsAreMissing() throws {
        let choice = PrecisionChoice(.bf16, features: ProcessorFeatures(nativeBFloat16: true))
        XCTAssertEqual(choice.effective, .float32)
        XCTAssertTrue(try XCTUnwrap(choice.note).contains("not in this build"))
    }

    /// cpuid and the kernel's view of the processor agree (the variable that simulates another processor is unset here).
    func testDetectionAgreesWithTheKernelsCPUFlags() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = try XCTUnwrap(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        XCTAssertNil(ProcessInfo.processInfo.environment["FINETUNE_SIMULATED_CPU"])
        XCTAssertEqual(ProcessorFeatures.current.nativeBFloat16, flags.split(separator: " ").contains("avx512_bf16"))
    }
}
