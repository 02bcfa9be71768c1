import Core
import Zoo

/// One stage of fine-tuning: the deepest group that trains (it and every group after it up to the
/// head train together; "head" trains only the head, "all" everything), for some epochs at a rate.
public struct Phase: Sendable, Equatable, Codable {
    public var deepestGroup: String
    public var epochs: Int
    public var learningRate: Float

    public init(_ deepestGroup: String, epochs: Int, learningRate: Float) {
        self.deepestGroup = deepestGroup
        self.epochs = epochs
        self.learningRate = learningRate
    }
}

/// A freezing schedule: phases run in order.
public struct Recipe: Sendable, Equatable {
    public var phases: [Phase]

    public init(_ phases: [Phase]) { self.phases = phases }

    /// The classic recipe: the head alone for `headEpochs`, then the last base group (and the head)
    /// for `unfreezeEpochs` at a tenth of the rate.
    public static func standard(architecture: Architecture, headEpochs: Int, unfreezeEpochs: Int,
                                learningRate: Float) -> Recipe {
        let baseGroups = architecture.layerGroups.withHead.names.dropLast()
        var phases = [Phase(Head.group, epochs: headEpochs, learningRate: learningRate)]
        if unfreezeEpochs > 0, let last = baseGroups.last {
            phases.append(Phase(last, epochs: unfreezeEpochs, learningRate: learningRate / 10))
        }
        return Recipe(phases)
    }

    /// Checks groups, epochs and rates before any work starts.
    public func validate(groups: [String]) throws {
        guard !phases.isEmpty else { throw TrainingError("the schedule has no phases") }
        for (index, phase) in phases.enumerated() {
            let where_ = "phase \(index + 1) (\(phase.deepestGroup))"
            guard phase.deepestGroup == "all" || groups.contains(phase.deepestGroup) else {
                throw TrainingError("\(where_): unknown layer group '\(phase.deepestGroup)'; the groups are \(groups.joined(separator: ", ")) or 'all'")
            }
            guard phase.epochs >= 1 else { throw TrainingError("\(where_): epochs must be at least 1, got \(phase.epochs)") }
            guard phase.learningRate > 0, phase.learningRate.isFinite else {
                throw TrainingError("\(where_): the learning rate must be above 0, got \(phase.learningRate)")
            }
        }
    }
}
