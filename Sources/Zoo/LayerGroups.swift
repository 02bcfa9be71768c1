import Core

/// Named, contiguous runs of `model.layers` (Keras order): the units of freezing.
/// Each group but the last is declared by the layer it ends with; the last takes the rest.
public struct LayerGroups: Sendable {
    public struct Boundary: Sendable {
        public let group: String
        public let lastLayer: String
    }

    public let boundaries: [Boundary]
    public let finalGroup: String

    public init(_ boundaries: [(String, String)], finalGroup: String) {
        self.boundaries = boundaries.map { Boundary(group: $0.0, lastLayer: $0.1) }
        self.finalGroup = finalGroup
    }

    public var names: [String] { boundaries.map(\.group) + [finalGroup] }

    /// The group of every layer of `model`, by layer name. Throws if a boundary layer is missing
    /// or out of order, so a wrong declaration cannot go unnoticed.
    public func assign(_ model: Model) throws -> [String: String] {
        var result: [String: String] = [:]
        var pending = boundaries[...]
        for layer in model.layers {
            let group = pending.first?.group ?? finalGroup
            result[layer.name] = group
            if layer.name == pending.first?.lastLayer { pending = pending.dropFirst() }
        }
        if let missing = pending.first {
            throw ModelError("model \(model.name) has no layer \(missing.lastLayer) ending group \(missing.group)")
        }
        return result
    }
}
