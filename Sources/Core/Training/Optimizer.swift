/// Keras 3's optimizers, step for step.
public enum OptimizerKind: String, CaseIterable, Sendable {
    case sgd, adam, adamw, rmsprop
}

public struct OptimizerSettings: Sendable {
    public var kind: OptimizerKind
    public var momentum: Float = 0
    public var nesterov = false
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var rho: Float = 0.9
    public var epsilon: Float = 1e-7
    /// AdamW's decoupled weight decay (Keras' default 0.004).
    public var weightDecay: Float = 0.004
    /// Penalties on kernels, added to the loss as Keras' regularizers do: l1·Σ|w| + l2·Σw².
    public var l1: Float = 0
    public var l2: Float = 0

    public init(_ kind: OptimizerKind) { self.kind = kind }
}

/// Applies gradients to parameters. State (momenta, second moments, step counts) belongs to each
/// parameter: parameters that stop training drop theirs, new ones start from zero.
public final class Optimizer {
    public let settings: OptimizerSettings
    private var slots: [ObjectIdentifier: [[Float]]] = [:]
    private var steps: [ObjectIdentifier: Int] = [:]

    public init(_ settings: OptimizerSettings) { self.settings = settings }

    /// Keeps state only for `parameters` (call when a phase changes what trains).
    public func retainState(for parameters: [Parameter]) {
        let keep = Set(parameters.map(ObjectIdentifier.init))
        slots = slots.filter { keep.contains($0.key) }
        steps = steps.filter { keep.contains($0.key) }
    }

    public var stateCount: Int { slots.count }

    /// One parameter's state: its step count and slots (momenta, second moments).
    public struct ParameterState: Sendable {
        public var steps: Int
        public var slots: [[Float]]

        public init(steps: Int, slots: [[Float]]) {
            self.steps = steps
            self.slots = slots
        }
    }

    /// The state of `parameter`, if it has trained.
    public func state(of parameter: Parameter) -> ParameterState? {
        let id = ObjectIdentifier(parameter)
        guard let steps = steps[id] else { return nil }
        return ParameterState(steps: steps, slots: slots[id] ?? [])
    }

    /// Restores a parameter's state (resuming a run).
    public func restore(_ state: ParameterState, for parameter: Parameter) {
        let id = ObjectIdentifier(parameter)
        steps[id] = state.steps
        slots[id] = state.slots
    }

    /// The regularisation penalty of these parameters (reported with the loss).
    public func penalty(_ parameters: [Parameter]) -> Float {
        guard settings.l1 > 0 || settings.l2 > 0 else { return 0 }
        var total: Double = 0
        for p in parameters where Optimizer.isKernel(p) {
            for w in p.value.data { total += Double(settings.l1 * abs(w) + settings.l2 * w * w) }
        }
        return Float(total)
    }

    static func isKernel(_ p: Parameter) -> Bool { p.name.hasSuffix("kernel") }

    /// One update of each parameter that has a gradient, at its own learning rate.
    public func apply(_ gradients: [ObjectIdentifier: Tensor], to parameters: [Parameter], learningRate: (Parameter) -> Float) {
        for parameter in parameters {
            let id = ObjectIdentifier(parameter)
            guard parameter.trainable, var g = gradients[id]?.data else { continue }
            if Optimizer.isKernel(parameter) && (settings.l1 > 0 || settings.l2 > 0) {
                for (i, w) in parameter.value.data.enumerated() {
                    g[i] += settings.l1 * (w > 0 ? 1 : (w < 0 ? -1 : 0)) + 2 * settings.l2 * w
                }
            }
            let step = steps[id, default: 0] + 1
            steps[id] = step
            var w = parameter.value.data
            var state = slots[id] ?? []
            update(&w, g, &state, step: step, lr: learningRate(parameter))
            slots[id] = state
            parameter.value = Tensor(shape: parameter.shape, data: w)
        }
    }

    private func update(_ w: inout [Float], _ g: [Float], _ state: inout [[Float]], step: Int, lr: Float) {
        let s = settings
        func slot(_ k: Int) {
            while state.count <= k { state.append([Float](repeating: 0, count: w.count)) }
        }
        switch s.kind {
        case .sgd:
            guard s.momentum != 0 else {
                for i in w.indices { w[i] -= g[i] * lr }
                return
            }
            slot(0)
            for i in w.indices {
                state[0][i] = state[0][i] * s.momentum - g[i] * lr
                w[i] += s.nesterov ? state[0][i] * s.momentum - g[i] * lr : state[0][i]
            }
        case .adam, .adamw:
            if s.kind == .adamw {
                for i in w.indices { w[i] -= w[i] * s.weightDecay * lr }
            }
            slot(1)
            let t = Float(step)
            let alpha = lr * (1 - pow(s.beta2, t)).squareRoot() / (1 - pow(s.beta1, t))
            for i in w.indices {
                state[0][i] += (g[i] - state[0][i]) * (1 - s.beta1)
                state[1][i] += (g[i] * g[i] - state[1][i]) * (1 - s.beta2)
                w[i] -= state[0][i] * alpha / (state[1][i].squareRoot() + s.epsilon)
            }
        case .rmsprop:
            slot(s.momentum > 0 ? 1 : 0)
            for i in w.indices {
                state[0][i] = s.rho * state[0][i] + (1 - s.rho) * g[i] * g[i]
                let increment = lr * g[i] / (state[0][i] + s.epsilon).squareRoot()
                if s.momentum > 0 {
                    state[1][i] = s.momentum * state[1][i] + increment
                    w[i] -= state[1][i]
                } else {
                    w[i] -= increment
                }
            }
        }
    }
}

private func pow(_ base: Float, _ exponent: Float) -> Float { Float(Foundation.pow(Double(base), Double(exponent))) }

import Foundation
