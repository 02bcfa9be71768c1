import CKernels
import Foundation

/// The number format convolutions, dense layers and the activations between them compute in.
public enum Precision: String, Codable, Sendable, CaseIterable {
    case float32
    /// bfloat16 data with float32 master weights and statistics, as oneDNN's bfloat16 training guide does.
    case bf16
}

/// The processor features that decide which precisions run natively.
public struct ProcessorFeatures: Sendable, Equatable {
    /// AVX-512 BF16 (`avx512_bf16`): without it oneDNN emulates bfloat16, slower than float32.
    public var nativeBFloat16: Bool

    public init(nativeBFloat16: Bool) { self.nativeBFloat16 = nativeBFloat16 }

    /// This machine's, from cpuid. Tests simulate a processor without BF16 with `FINETUNE_SIMULATED_CPU=no-bf16`.
    public static let current = ProcessorFeatures(
        nativeBFloat16: ck_cpu_has_native_bf16() != 0 && ProcessInfo.processInfo.environment["FINETUNE_SIMULATED_CPU"] != "no-bf16")
}

/// The precision a computation runs in, given the one asked for and the processor.
public struct PrecisionChoice: Sendable, Equatable {
    public let requested: Precision
    public let effective: Precision
    /// Why `effective` is not `requested`, in one line; nil when it is.
    public let note: String?

    public init(_ requested: Precision, features: ProcessorFeatures = .current) {
        self.requested = requested
        switch requested {
        case .float32:
            (effective, note) = (.float32, nil)
        case .bf16 where !features.nativeBFloat16:
            (effective, note) = (.float32, "this processor has no native bfloat16 (avx512_bf16), and emulated bfloat16 is slower than float32: running float32")
        case .bf16:
            // oneDNN 2.6.3 creates no bfloat16 primitive without AVX-512, so the kernels wait for a machine that can check them.
            (effective, note) = (.float32, "bfloat16 kernels are not in this build yet: running float32")
        }
    }
}
