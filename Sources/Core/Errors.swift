/// A user-facing error: one line that names what is wrong and what to do.
public struct ModelError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Turns a failed C kernel call into a ModelError with oneDNN's message.
func kernelCheck(_ status: Int32, _ what: @autoclosure () -> String) throws {
    if status != 0 { throw ModelError("\(what()): \(String(cString: ck_last_error()))") }
}

import CKernels
