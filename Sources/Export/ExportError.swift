import Core

/// A model that cannot be written for another runtime.
public enum ExportError: UserFacingError, Equatable {
    case unsupported(String)
    /// The preprocessing is not a per-channel scale and offset, so it cannot go into the graph.
    case preprocessingNotAffine(mode: String)

    init(_ description: String) { self = .unsupported(description) }

    public var description: String {
        switch self {
        case .unsupported(let message): message
        case .preprocessingNotAffine(let mode):
            "preprocessing mode \(mode) is not a per-channel scale and offset; it cannot go into the ONNX graph (export without the preprocessing)"
        }
    }
}
