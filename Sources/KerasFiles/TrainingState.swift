import Core
import Foundation

/// A resumable training state in one HDF5 file: the weights (legacy layout under `model_weights`),
/// each parameter's optimizer state under `optimizer/<layer>/<weight>/`, and string attributes
/// (the run's position and arguments), written atomically.
public enum TrainingState {
    public static func save(_ model: Model, optimizer: Optimizer, attributes: [String: String], to path: String) throws {
        try Weights.writeAtomically(path) { file in
            for (key, value) in attributes.sorted(by: { $0.key < $1.key }) { try file.setString(key, value, on: file.root) }
            try Weights.writeLegacyGroup(model, file: file, group: try file.createGroup("model_weights"))
            let group = try file.createGroup("optimizer")
            for layer in model.layers {
                for parameter in layer.parameters {
                    guard let state = optimizer.state(of: parameter) else { continue }
                    let base = "\(layer.name)/\(parameter.name)"
                    try file.write(Tensor(shape: [1], data: [Float(state.steps)]), at: "\(base)/steps", in: group)
                    for (k, slot) in state.slots.enumerated() {
                        try file.write(Tensor(shape: parameter.shape, data: slot), at: "\(base)/\(k)", in: group)
                    }
                }
            }
        }
    }

    /// Loads weights and optimizer state into `model` and `optimizer`; returns the attributes asked for.
    public static func load(_ path: String, into model: Model, optimizer: Optimizer, attributes names: [String]) throws -> [String: String] {
        try Weights.load(into: model, from: path)
        let file = try HDF5File.open(path)
        if try file.exists("optimizer", in: file.root) {
            let group = try file.group("optimizer")
            for layer in model.layers {
                for parameter in layer.parameters {
                    let base = "\(layer.name)/\(parameter.name)"
                    guard try file.exists("\(base)/steps", in: group) else { continue }
                    var slots: [[Float]] = []
                    // Adam keeps two moments per parameter, the most of any optimizer here.
                    while slots.count < 2, try file.exists("\(base)/\(slots.count)", in: group) {
                        slots.append(try file.tensor("\(base)/\(slots.count)", in: group, shape: parameter.shape).data)
                    }
                    let count = try file.tensor("\(base)/steps", in: group, shape: [1]).data[0]
                    guard let steps = Int(exactly: count), steps >= 0 else {
                        throw WeightsFileError("\(path): the optimizer's step count for \(base) is \(count); the state is damaged")
                    }
                    optimizer.restore(Optimizer.ParameterState(steps: steps, slots: slots), for: parameter)
                }
            }
        }
        var values: [String: String] = [:]
        for name in names {
            guard let value = try file.string(name, on: file.root) else {
                throw WeightsFileError("\(path) has no '\(name)'; it is not a resumable training state")
            }
            values[name] = value
        }
        return values
    }
}
