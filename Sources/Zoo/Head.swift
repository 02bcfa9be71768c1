import Core

/// The new classifier that replaces a zoo model's top for the user's classes:
/// global pooling → dropout → optional hidden Dense+ReLU → Dense(classes).
public struct HeadOptions: Sendable {
    public var classes: Int
    /// Sigmoid outputs (several labels per image) instead of softmax.
    public var multiLabel = false
    public var pooling: Pooling2D.Kind = .average
    public var dropout: Float = 0
    public var hidden: Int?
    public var seed: UInt64 = 0

    public init(classes: Int) { self.classes = classes }
}

public enum Head {
    /// The group name of the head's layers.
    public static let group = "head"

    /// `base` (a no-top model without pooling) with a freshly initialised, seeded head.
    public static func attach(to base: Model, _ options: HeadOptions) throws -> Model {
        guard options.classes >= 1 else { throw ModelError("a head needs at least one class, got \(options.classes)") }
        guard (0..<1).contains(options.dropout) else { throw ConfigurationError.dropout(options.dropout) }
        guard base.outputShape.count == 3 else {
            throw ModelError("the base must end in feature maps (build it without top and without pooling)")
        }
        let g = GraphBuilder(continuing: base)
        var x = try g.add(GlobalPooling2D("head_pool", options.pooling), NodeRef(index: base.output))
        var added: [any Layer] = []
        if options.dropout > 0 { x = try g.add(Dropout("head_dropout", rate: options.dropout), x) }
        if let hidden = options.hidden {
            let dense = Dense("head_hidden", units: hidden, activation: .relu)
            x = try g.add(dense, x)
            added.append(dense)
        }
        let classifier = Dense("head_predictions", units: options.classes,
                               activation: options.multiLabel ? .sigmoid : .softmax)
        x = try g.add(classifier, x)
        added.append(classifier)
        var rng = SeededGenerator(seed: options.seed)
        for layer in added { layer.initializeGlorot(using: &rng) }
        return g.model(name: base.name, output: x)
    }
}

extension LayerGroups {
    /// The groups of a base with a new head: the head takes the place of the original top.
    public var withHead: LayerGroups {
        LayerGroups(boundaries.map { ($0.group, $0.lastLayer) }, finalGroup: Head.group)
    }

    /// The layers that train when `deepest` and every group after it train ("all": every group).
    public func trainableLayers(from deepest: String, in model: Model) throws -> Set<ObjectIdentifier> {
        let order = names
        let start: Int
        if deepest == "all" {
            start = 0
        } else if let index = order.firstIndex(of: deepest) {
            start = index
        } else {
            throw ModelError("unknown layer group '\(deepest)'; this model's groups are \(order.joined(separator: ", ")) (or 'all')")
        }
        let training = Set(order[start...])
        let assignment = try assign(model)
        return Set(model.layers.filter { training.contains(assignment[$0.name]!) }.map(ObjectIdentifier.init))
    }
}
