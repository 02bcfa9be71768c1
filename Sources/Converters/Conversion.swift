import Core
import Foundation
import KerasFiles
import Zoo

/// Foreign weights put into a zoo model by a mapping: every source tensor used (or knowingly dropped:
/// the classifier without top, BatchNorm's step counter) and every weight of the model set.
public struct Conversion {
    public let mapping: Mapping
    public let model: Model
    /// What the weights expect; recorded in the converted file.
    public let preprocessing: Preprocessing
    /// Source tensors with no place in the model by design (the classifier without top, step counters).
    public let dropped: [String]

    /// Converts `weights` into `architecture`, with the classifier when `includeTop` (the source must have one).
    /// `family` narrows the mappings tried; among those left, the one whose rules explain most of the source wins.
    public init(_ weights: ForeignWeights, into architecture: Architecture, family: String?, includeTop: Bool,
                mappings: [Mapping] = Mapping.all) throws {
        let candidates = Mapping.find(architecture: architecture, family: family, in: mappings)
        guard !candidates.isEmpty else {
            let known = mappings.filter { $0.architecture == architecture || $0.architecture == nil }.flatMap(\.families)
            throw WeightsFileError("\(weights.source): no mapping converts \(family.map { "\($0) " } ?? "")weights into \(architecture.rawValue); it takes weights from \(Set(known).sorted().joined(separator: ", "))")
        }
        let mapping = candidates.max { SourceModules(weights, $0).matched(by: $0) < SourceModules(weights, $1).matched(by: $1) }!
        let modules = SourceModules(weights, mapping)
        let plan: Plan
        do {
            plan = try Plan(modules, weights, mapping: mapping, architecture: architecture, includeTop: includeTop)
        } catch let error as Leftovers {
            let fit = Self.bestFit(weights, otherThan: architecture, in: mappings)
            throw WeightsFileError("\(weights.source) does not fit \(architecture.rawValue) (mapping \(mapping.name)): \(error)\(fit.text)",
                                   kind: fit.architecture.map { .fitsOtherArchitecture($0.rawValue) } ?? .other)
        }
        self.mapping = mapping
        model = plan.model
        preprocessing = try mapping.preprocessing ?? Manifest.shared.model(architecture).preprocessing
        dropped = plan.dropped
        try plan.assign(weights, sourceEpsilon: mapping.batchnormEpsilon)
    }

    /// "; its keys fit torchvision_vgg19 (vgg19): …" when another architecture's mapping explains the source
    /// better than a third of it, so a checkpoint of another architecture says which one it is.
    static func bestFit(_ weights: ForeignWeights, otherThan architecture: Architecture, in mappings: [Mapping])
        -> (text: String, architecture: Architecture?) {
        let scored = mappings.compactMap { mapping -> (Mapping, Int, Int)? in
            guard let other = mapping.architecture, other != architecture else { return nil }
            let modules = SourceModules(weights, mapping)
            return (mapping, modules.matched(by: mapping), modules.modules.count)
        }
        guard let (best, matched, total) = scored.max(by: { $0.1 < $1.1 }), matched * 3 > total else {
            return ("; its keys fit none of the known mappings (\(mappings.map(\.name).joined(separator: ", ")))", nil)
        }
        return ("; its keys fit \(best.name) (\(best.architecture!.rawValue)): \(matched) of \(total) modules", best.architecture)
    }
}

/// A source's tensor names split into module path and weight name (`layer1.0.conv1` and `weight`) at
/// the mapping's separator, in the file's order.
struct SourceModules {
    struct Module {
        let path: String
        /// Weight name → the source's full key.
        var keys: [String: String] = [:]
        var weightNames: [String] { keys.keys.sorted() }
    }

    private(set) var modules: [Module] = []

    init(_ weights: ForeignWeights, _ mapping: Mapping) {
        var index: [String: Int] = [:]
        for key in weights.names {
            let cut = key.range(of: mapping.separator, options: .backwards)
            let path = cut.map { String(key[..<$0.lowerBound]) } ?? ""
            let weight = cut.map { String(key[$0.upperBound...]) } ?? key
            if index[path] == nil {
                index[path] = modules.count
                modules.append(Module(path: path))
            }
            modules[index[path]!].keys[weight] = key
        }
    }

    /// How many modules some rule of `mapping` recognises: how well the source fits that mapping.
    func matched(by mapping: Mapping) -> Int {
        modules.filter { module in mapping.rules.contains { mapping.target(of: module.path, by: $0) != nil } }.count
    }
}

/// What is left over on each side of a mapping that does not fit.
private struct Leftovers: Error, CustomStringConvertible {
    var unused: [String] = []
    var unset: [String] = []
    var isEmpty: Bool { unused.isEmpty && unset.isEmpty }

    var description: String {
        func few(_ names: [String]) -> String {
            names.prefix(4).joined(separator: ", ") + (names.count > 4 ? " and \(names.count - 4) more" : "")
        }
        var parts: [String] = []
        if !unused.isEmpty { parts.append("\(unused.count) source tensors have no place in it (\(few(unused)))") }
        if !unset.isEmpty { parts.append("\(unset.count) of its layers get no weights (\(few(unset)))") }
        return parts.joined(separator: "; ")
    }
}

/// Which source module fills which model layer, checked for completeness before any value is converted.
private struct Plan {
    struct Assignment {
        let module: SourceModules.Module
        let rule: Mapping.Rule
    }

    let model: Model
    /// Model layer name → the modules that fill it (a separable convolution takes two).
    let assignments: [String: [Assignment]]
    let dropped: [String]

    init(_ modules: SourceModules, _ weights: ForeignWeights, mapping: Mapping, architecture: Architecture,
         includeTop: Bool) throws {
        let size = try Manifest.shared.model(architecture).defaultInputSize
        var options = ModelOptions(includeTop: includeTop, inputHeight: size, inputWidth: size)
        // The layer names do not depend on the number of classes; the classifier's tensor gives that number.
        let names = Set(try architecture.build(options).layers.map(\.name))
        var leftovers = Leftovers()
        var assignments: [String: [Assignment]] = [:]
        var dropped: [String] = []
        var classes: Int?
        for module in modules.modules {
            guard let (rule, target) = Self.firstRule(for: module, in: mapping, layers: names, weights: weights) else {
                leftovers.unused += module.weightNames.map { module.keys[$0]! }
                continue
            }
            let (used, unused) = rule.transform.split(module.weightNames)
            leftovers.unused += unused.map { module.keys[$0]! }
            dropped += module.weightNames.filter { !used.contains($0) && !unused.contains($0) }.map { module.keys[$0]! }
            guard names.contains(target) else {
                dropped += used.map { module.keys[$0]! }
                continue
            }
            if rule.top { classes = rule.transform.classes(module, weights) }
            assignments[target, default: []].append(Assignment(module: module, rule: rule))
        }
        if includeTop {
            guard let classes else {
                throw WeightsFileError("\(weights.source) has no classifier (nothing in it maps to the \(architecture.rawValue) top); convert it without the top", kind: .noClassifier)
            }
            options.classes = classes
        }
        model = try architecture.build(options)
        leftovers.unset = model.weightedLayers.map(\.name).filter { assignments[$0] == nil }
        guard leftovers.isEmpty else { throw leftovers }
        self.assignments = assignments
        self.dropped = dropped
    }

    /// The first rule that applies to `module`: its pattern matches and its target is a layer of the model
    /// (or the classifier, which the model lacks without top).
    static func firstRule(for module: SourceModules.Module, in mapping: Mapping, layers: Set<String>,
                          weights: ForeignWeights) -> (Mapping.Rule, String)? {
        for rule in mapping.rules {
            guard let target = mapping.target(of: module.path, by: rule), rule.top || layers.contains(target),
                  rule.transform.accepts(module, weights) else { continue }
            return (rule, target)
        }
        return nil
    }

    /// Converts every assigned module, checks every shape, then sets the model's weights: on any error
    /// the model is left as it was built.
    func assign(_ weights: ForeignWeights, sourceEpsilon: Float?) throws {
        var values: [String: [String: Tensor]] = [:]
        var folds: [(batchNorm: String, gamma: [Float])] = []
        for layer in model.weightedLayers {
            var layerValues: [String: Tensor] = [:]
            for assignment in assignments[layer.name]! {
                let converted = try assignment.rule.transform.apply(to: assignment.module, of: weights, layer: layer,
                                                                    model: model, sourceEpsilon: sourceEpsilon)
                for (name, tensor) in converted.values {
                    guard layerValues[name] == nil else {
                        throw WeightsFileError("\(weights.source): two source modules set \(layer.name)/\(name) (the second is \(assignment.module.path))")
                    }
                    layerValues[name] = tensor
                }
                if let gamma = converted.foldedScale { folds.append((layer.name, gamma)) }
            }
            values[layer.name] = layerValues
        }
        for (batchNorm, gamma) in folds {
            guard let index = model.nodeIndex(ofLayer: batchNorm), let input = model.nodes[index].inputs.first,
                  case let convolution = model.nodes[input].layer.name, let kernel = values[convolution]?["kernel"] else {
                throw WeightsFileError("\(weights.source): \(batchNorm) has no scale and no convolution before it to take the source's scale")
            }
            guard kernel.shape.last == gamma.count else {
                throw WeightsFileError("\(weights.source): the scale for \(batchNorm) has \(gamma.count) channels but \(convolution) has \(kernel.shape.last!)")
            }
            values[convolution]!["kernel"] = Layout.scaleLastAxis(kernel, by: gamma)
            if let bias = values[convolution]!["bias"] { values[convolution]!["bias"] = Layout.scaleLastAxis(bias, by: gamma) }
            values[batchNorm]!["moving_mean"] = Layout.scaleLastAxis(values[batchNorm]!["moving_mean"]!, by: gamma)
        }
        for layer in model.weightedLayers {
            for parameter in layer.parameters {
                guard let value = values[layer.name]![parameter.name] else {
                    throw WeightsFileError("\(weights.source): nothing in it sets \(layer.name)/\(parameter.name)")
                }
                guard value.shape == parameter.shape else {
                    let origin = assignments[layer.name]!.map(\.module.path).joined(separator: " and ")
                    throw WeightsFileError("\(weights.source): \(origin) gives \(layer.name)/\(parameter.name) the shape \(Layout.format(value.shape)), but \(model.name) needs \(Layout.format(parameter.shape)); is the checkpoint for another variant?")
                }
            }
            let unknown = Set(values[layer.name]!.keys).subtracting(layer.parameters.map(\.name))
            if let extra = unknown.sorted().first {
                throw WeightsFileError("\(weights.source): \(layer.name) has no weight '\(extra)' for the source to set")
            }
        }
        for layer in model.weightedLayers {
            for parameter in layer.parameters { parameter.value = values[layer.name]![parameter.name]! }
        }
    }
}

/// What a transform made of one source module: Keras weights, and a BatchNorm scale the layer cannot hold.
struct ConvertedModule {
    var values: [String: Tensor] = [:]
    var foldedScale: [Float]?
}
