import CKernels

/// Line-buffers standard output, so progress and results reach a pipe or a log as they happen, as they
/// do a terminal. (Swift 6 cannot touch C's `stdout` from Swift; the kernels' C shim does it.)
public func lineBufferStandardOutput() { ck_line_buffer_output() }
