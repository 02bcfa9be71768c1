/// An error a user reads: one line that names what is wrong and what to do, in the library's words (a
/// command adds its own, such as the flag to change). Each domain has its own type, so callers branch on
/// types and cases, never on the text:
/// - `ModelError`: models, layers, tensors and kernels (Core, Zoo);
/// - `WeightsFileError`: Keras' files, arrays and archives, and the weight cache (KerasFiles, Converters);
/// - `DataError`: images and data sets (ImageData);
/// - `TrainingError`: a training run, its recipe and its folder (FineTune);
/// - `ConfigurationError`: settings that cannot work (Zoo, FineTune).
/// All are values and may cross threads.
public protocol UserFacingError: Error, CustomStringConvertible, Sendable {}

/// Models, layers, tensors and kernels.
public struct ModelError: UserFacingError, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A training run that cannot go on.
public struct TrainingError: UserFacingError, Equatable {
    public enum Kind: Sendable, Equatable {
        case other
        /// The loss or a gradient became NaN or infinite.
        case diverged
    }
    public let kind: Kind
    public let description: String
    public init(_ description: String, kind: Kind = .other) { (self.description, self.kind) = (description, kind) }
}

/// A setting out of its range, named by the library's field; a command translates it into its flag.
public enum ConfigurationError: UserFacingError, Equatable {
    case batchSize(Int)
    case dropout(Float)
    case classes(Int)
    /// An input smaller than the architecture's minimum.
    case inputSize(model: String, minimum: Int, height: Int, width: Int)
    /// A model with no published weights asked for them.
    case noPublishedWeights(model: String)

    public var description: String {
        switch self {
        case .batchSize(let size): "the batch size must be at least 1, got \(size)"
        case .dropout(let rate): "the dropout rate must be in [0, 1), got \(rate)"
        case .classes(let count): "the number of classes must be at least 1, got \(count)"
        case .inputSize(let model, let minimum, let height, let width):
            "\(model) needs inputs of at least \(minimum)x\(minimum) pixels, got \(height)x\(width)"
        case .noPublishedWeights(let model): "\(model) has no published weights; build it without weights or load a weights file"
        }
    }
}

/// Turns a failed C kernel call into a ModelError with oneDNN's message.
func kernelCheck(_ status: Int32, _ what: @autoclosure () -> String) throws {
    if status != 0 { throw ModelError("\(what()): \(String(cString: ck_last_error()))") }
}

import CKernels
