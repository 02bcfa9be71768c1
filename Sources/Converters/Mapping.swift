import Core
import Foundation
import KerasFiles
import Zoo

/// How one source family's checkpoints of one architecture become the zoo's Keras layers: the data in a
/// `converters/*.json` file (the format is described in converters/README.md).
public struct Mapping: Decodable, Sendable {
    /// The file's name without `.json` (`torchvision_resnet50`).
    public internal(set) var name = ""
    /// Who publishes such checkpoints (`torchvision`, `timm`, `keras`).
    public let families: [String]
    /// The zoo architecture the weights go into; nil for a mapping that fits every architecture (Keras 3).
    public let architecture: Architecture?
    /// The checkpoints this mapping is for, as their publishers name them; for people, not for the converter.
    public let checkpoints: [String]
    /// What the source's weights expect; nil: the architecture's own (the manifest's).
    public let preprocessing: Preprocessing?
    /// Between a module's path and its weight's name: `.` in PyTorch (`layer1.0.conv1.weight`), `/` in Keras.
    public let separator: String
    /// The source's BatchNorm ε, moved exactly into the variance where Keras' layer has another.
    public let batchnormEpsilon: Float?
    public let rules: [Rule]

    private enum CodingKeys: String, CodingKey {
        case families, architecture, checkpoints, preprocessing, separator, batchnormEpsilon, rules
    }

    /// One source module (or a family of them, through `{placeholders}`) → one Keras layer.
    public struct Rule: Decodable, Sendable {
        public let source: String
        public let target: String
        public let transform: Transform
        /// The classifier: dropped when converting without top.
        public let top: Bool

        private enum CodingKeys: String, CodingKey { case source, target, transform, top }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            source = try c.decode(String.self, forKey: .source)
            target = try c.decode(String.self, forKey: .target)
            transform = try c.decode(Transform.self, forKey: .transform)
            top = try c.decodeIfPresent(Bool.self, forKey: .top) ?? false
            pattern = try SourcePattern(source)
        }

        let pattern: SourcePattern
    }

    /// What a rule does to the module's tensors (described with each case in converters/README.md).
    public enum Transform: String, Decodable, Sendable {
        case conv, depthwise, pointwise, dense, batchnorm, keras
        /// A Dense after a channel-first flatten (torchvision VGG's `fc1`): rows reordered for Keras' channel-last one.
        case denseAfterFlatten = "dense_after_flatten"
        /// A Keras Dense (kernel and bias) that becomes the classifier whatever its name (a user's head).
        case kerasDense = "keras_dense"
    }

    /// The target layer `rule` gives the module `path`, or nil when the rule does not apply to it.
    func target(of path: String, by rule: Rule) -> String? {
        guard let values = rule.pattern.match(path) else { return nil }
        return SourcePattern.fill(rule.target, with: values)
    }
}

/// A source pattern: literal text with `{name}` placeholders, each standing for one path component's
/// worth of characters (`layer{s}.{b}.conv{i}`). A target template uses them as `{name}`, `{name+1}`, `{name-1}`.
struct SourcePattern: Sendable {
    let names: [String]
    let regex: NSRegularExpression

    init(_ pattern: String) throws {
        var expression = "^"
        var names: [String] = []
        var rest = Substring(pattern)
        while let open = rest.firstIndex(of: "{") {
            expression += NSRegularExpression.escapedPattern(for: String(rest[..<open]))
            guard let close = rest[open...].firstIndex(of: "}") else {
                throw WeightsFileError("the mapping pattern '\(pattern)' has an unclosed '{'")
            }
            names.append(String(rest[rest.index(after: open)..<close]))
            expression += "([^./]+)"
            rest = rest[rest.index(after: close)...]
        }
        expression += NSRegularExpression.escapedPattern(for: String(rest)) + "$"
        self.names = names
        regex = try NSRegularExpression(pattern: expression)
    }

    func match(_ path: String) -> [String: String]? {
        let range = NSRange(path.startIndex..., in: path)
        guard let found = regex.firstMatch(in: path, range: range) else { return nil }
        var values: [String: String] = [:]
        for (k, name) in names.enumerated() {
            guard let r = Range(found.range(at: k + 1), in: path) else { return nil }
            values[name] = String(path[r])
        }
        return values
    }

    /// `template` with each `{name}`, `{name+k}` or `{name-k}` replaced; nil when arithmetic meets a
    /// value that is not a number (then the rule does not apply).
    static func fill(_ template: String, with values: [String: String]) -> String? {
        var result = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            result += rest[..<open]
            let expression = rest[rest.index(after: open)..<close]
            if let sign = expression.firstIndex(where: { $0 == "+" || $0 == "-" }) {
                guard let value = values[String(expression[..<sign])].flatMap({ Int($0) }),
                      let offset = Int(expression[expression.index(after: sign)...]) else { return nil }
                result += String(expression[sign] == "+" ? value + offset : value - offset)
            } else {
                guard let value = values[String(expression)] else { return nil }
                result += value
            }
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }
}

extension Mapping {
    /// Every mapping compiled into the package from `converters/`, sorted by name.
    public static let all: [Mapping] = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return MappingFiles.all.map { name, bytes in
            do {
                var mapping = try decoder.decode(Mapping.self, from: Data(bytes))
                mapping.name = name
                return mapping
            } catch {
                fatalError("the converter mapping converters/\(name).json is invalid: \(error)")
            }
        }.sorted { $0.name < $1.name }
    }()

    /// The mapping for weights of `family` (nil: any) going into `architecture`.
    public static func find(architecture: Architecture, family: String?, in mappings: [Mapping] = all) -> [Mapping] {
        mappings.filter { mapping in
            (mapping.architecture == nil || mapping.architecture == architecture)
                && (family.map { mapping.families.contains($0) } ?? true)
        }
    }

    /// Every family some mapping serves, for messages and the command's help.
    public static var families: [String] { Array(Set(all.flatMap(\.families))).sorted() }
}
