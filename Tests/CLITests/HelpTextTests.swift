import Foundation
import TestSupport
import XCTest

/// Help as a user reads it in an 80-column terminal.
final class HelpTextTests: XCTestCase {
    static let commands = [[], ["train"], ["evaluate"], ["predict"], ["search"], ["export-base"], ["embed"], ["bench"],
                           ["data"], ["data", "convert-idx"], ["data", "inspect"], ["zoo"], ["zoo", "list"], ["zoo", "fetch"], ["zoo", "verify"],
                           ["convert"]]

    /// Examples fit the width or continue with a shell backslash onto an indented line, so they can be
    /// copied as they are; a backslash appears nowhere else.
    func testExamplesFitEightyColumnsAndBackslashesOnlyContinueCommands() throws {
        for command in Self.commands {
            let help = try CLI.run(command + ["--help"], environment: ["COLUMNS": "80"])
            XCTAssertEqual(help.status, 0, help.stderr)
            let lines = help.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            for (index, line) in lines.enumerated() {
                let name = "finetune \(command.joined(separator: " ")) --help, line \(index + 1)"
                if line.hasSuffix(" \\") {
                    XCTAssertTrue(lines[index + 1].hasPrefix("    "), "\(name): a continued command goes on indented: \(lines[index + 1])")
                } else {
                    XCTAssertFalse(line.contains("\\"), "\(name): stray backslash: \(line)")
                }
                let continued = index > 0 && lines[index - 1].hasSuffix(" \\")
                if line.hasPrefix("  finetune ") || line.hasPrefix("Example: finetune ") || continued {
                    XCTAssertLessThanOrEqual(line.count, 80, "\(name): an example wider than the terminal: \(line)")
                    let next = index + 1 < lines.count ? lines[index + 1] : ""
                    XCTAssertTrue(line.hasSuffix(" \\") || next.isEmpty || next.hasPrefix("  "),
                                  "\(name): an example wrapped in the middle: \(line) / \(next)")
                }
            }
        }
    }

    func testTheCommandAloneExplainsItself() throws {
        let alone = try CLI.run([])
        XCTAssertEqual(alone.status, 0, alone.stderr)
        for fragment in ["OVERVIEW:", "SUBCOMMANDS:", "train (default)", "130 a training run interrupted"] {
            XCTAssertTrue(alone.stdout.contains(fragment), "finetune alone lacks '\(fragment)':\n\(alone.stdout)")
        }
        let version = try CLI.run(["--version"])
        XCTAssertEqual(version.status, 0, version.stderr)
        XCTAssertTrue(version.stdout.hasPrefix("0."), version.stdout)
    }
}
