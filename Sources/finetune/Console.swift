import Foundation

/// Messages for the terminal that never stop the program: FileHandle's write traps when the terminal has gone
/// (a closed ssh session, a hung-up pty, a reader that quit), and a training run must outlive its terminal
/// long enough to save its state.
public enum Console {
    public static func standardOutput(_ text: String) { write(text, to: STDOUT_FILENO) }
    public static func standardError(_ text: String) { write(text, to: STDERR_FILENO) }

    private static func write(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }  // Output gone: the message is dropped, the work goes on.
            bytes = bytes.dropFirst(written)
        }
    }
}
