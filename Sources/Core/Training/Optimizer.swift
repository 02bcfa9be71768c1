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
    /// Decoupled weight decay: before each update a weight shrinks by weightDecay × its rate, as Keras'
    /// `weight_decay` does for every optimizer (AdamW's default 0.004, none for the others).
    public var weightDecay: Float
    /// Penalties on kernels, added to the loss as Keras' regularizers do: l1·Σ|w| + l2·Σw².
    public var l1: Float = 0
    public var l2: Float = 0
    /// Keras' `global_clipnorm`: when the gradients' joint L2 norm exceeds it, they are all scaled down to it.
    public var globalClipNorm: Float?

    public init(_ kind: OptimizerKind) {
        self.kind = kind
        weightDecay = kind == .adamw ? 0.004 : 0
    }

    /// The gradient of a kernel weight's L1/L2 penalty.
    func penaltyGradient(at w: Float) -> Float { l1 * (w > 0 ? 1 : (w < 0 ? -1 : 0)) + 2 * l2 * w }
}

/// Applies gradients to parameters. State (momenta, second moments, step counts) belongs to each
/// parameter: parameters that stop training drop theirs, new ones start from zero. Not Sendable: it
/// belongs to the thread that trains its model.
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

    /// One update of each parameter that has a gradient, at its own learning rate. Weights and slots
    /// change in place, large parameters in parallel chunks: every element's arithmetic is the same.
    /// Returns the gradients' joint L2 norm (penalties included, before clipping), as Keras clips it.
    @discardableResult
    public func apply(_ gradients: [ObjectIdentifier: Tensor], to parameters: [Parameter], learningRate: (Parameter) -> Float) -> Float {
        let updated = parameters.filter { $0.trainable && gradients[ObjectIdentifier($0)] != nil }
        let norm = globalNorm(gradients, of: updated)
        // Keras' clip_by_global_norm: clip · min(1/norm, 1/clip), so a norm within the limit leaves the gradients as they are.
        let scale = settings.globalClipNorm.map { $0 * min(1 / norm, 1 / $0) } ?? 1
        for parameter in updated {
            let id = ObjectIdentifier(parameter)
            let gradient = gradients[id]!
            let step = steps[id, default: 0] + 1
            steps[id] = step
            var state = slots.removeValue(forKey: id) ?? []  // uniquely owned, so written without a copy
            while state.count < slotCount { state.append([Float](repeating: 0, count: gradient.data.count)) }
            let update = ElementUpdate(settings: settings, step: step, lr: learningRate(parameter),
                                       regularized: isPenalized(parameter), clipScale: scale)
            parameter.value.data.withUnsafeMutableBufferPointer { w in
                gradient.data.withUnsafeBufferPointer { g in
                    state.withUnsafeMutableBufferPointers { m in update.run(w, g, m) }
                }
            }
            slots[id] = state
        }
        return norm
    }

    private func isPenalized(_ parameter: Parameter) -> Bool { Optimizer.isKernel(parameter) && (settings.l1 > 0 || settings.l2 > 0) }

    /// √(Σ g²) over every element of these parameters' gradients, each with its penalty's gradient added.
    private func globalNorm(_ gradients: [ObjectIdentifier: Tensor], of parameters: [Parameter]) -> Float {
        var total: Double = 0
        for parameter in parameters {
            let g = gradients[ObjectIdentifier(parameter)]!.data
            if isPenalized(parameter) {
                for (gi, wi) in zip(g, parameter.value.data) {
                    let full = gi + settings.penaltyGradient(at: wi)
                    total += Double(full * full)
                }
            } else {
                total += g.withUnsafeBufferPointer(sumOfSquares)
            }
        }
        return Float(total.squareRoot())
    }

    /// Slots each parameter keeps: Adam's two moments, a momentum, RMSprop's mean square (and momentum).
    private var slotCount: Int {
        switch settings.kind {
        case .sgd: settings.momentum != 0 ? 1 : 0
        case .adam, .adamw: 2
        case .rmsprop: settings.momentum > 0 ? 2 : 1
        }
    }
}

/// One optimizer step over a parameter's elements, Keras' formulas element by element.
private struct ElementUpdate: Sendable {
    let settings: OptimizerSettings
    let step: Int
    let lr: Float
    /// Kernels with an L1/L2 penalty add its gradient, taken at the weight before this step.
    let regularized: Bool
    /// The global-norm clipping factor shared by every parameter of this step (1: unclipped).
    let clipScale: Float

    /// Below this many elements a parameter is updated on one thread.
    private static let chunk = 1 << 16

    /// A parameter's buffers; chunks cover disjoint element ranges, so no element is shared between threads.
    private struct Buffers: @unchecked Sendable {
        let w: UnsafeMutableBufferPointer<Float>
        let g: UnsafeBufferPointer<Float>
        let slots: [UnsafeMutableBufferPointer<Float>]
    }

    func run(_ w: UnsafeMutableBufferPointer<Float>, _ g: UnsafeBufferPointer<Float>, _ slots: [UnsafeMutableBufferPointer<Float>]) {
        let chunks = (w.count + Self.chunk - 1) / Self.chunk
        guard chunks > 1 else { return update(w, g, slots, 0..<w.count) }
        let buffers = Buffers(w: w, g: g, slots: slots)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            update(buffers.w, buffers.g, buffers.slots, (c * Self.chunk)..<min((c + 1) * Self.chunk, buffers.w.count))
        }
    }

    /// Element i's gradient (with its penalty's, at the weight before this step; clipped); then the weight
    /// decays, since Keras clips, then applies weight decay, then the update.
    private func gradient(_ g: UnsafeBufferPointer<Float>, _ w: UnsafeMutableBufferPointer<Float>, _ i: Int) -> Float {
        let wi = w[i]
        if settings.weightDecay != 0 { w[i] = wi - wi * (settings.weightDecay * lr) }
        return (regularized ? g[i] + settings.penaltyGradient(at: wi) : g[i]) * clipScale
    }

    private func update(_ w: UnsafeMutableBufferPointer<Float>, _ g: UnsafeBufferPointer<Float>,
                        _ slots: [UnsafeMutableBufferPointer<Float>], _ range: Range<Int>) {
        let s = settings
        switch s.kind {
        case .sgd:
            guard s.momentum != 0 else {
                for i in range {
                    let gi = gradient(g, w, i)
                    w[i] -= gi * lr
                }
                return
            }
            let v = slots[0]
            for i in range {
                let gi = gradient(g, w, i)
                v[i] = v[i] * s.momentum - gi * lr
                w[i] += s.nesterov ? v[i] * s.momentum - gi * lr : v[i]
            }
        case .adam, .adamw:
            let (m, v) = (slots[0], slots[1])
            let t = Float(step)
            let alpha = lr * (1 - pow(s.beta2, t)).squareRoot() / (1 - pow(s.beta1, t))
            for i in range {
                let gi = gradient(g, w, i)
                m[i] += (gi - m[i]) * (1 - s.beta1)
                v[i] += (gi * gi - v[i]) * (1 - s.beta2)
                w[i] -= m[i] * alpha / (v[i].squareRoot() + s.epsilon)
            }
        case .rmsprop:
            for i in range {
                let gi = gradient(g, w, i)
                slots[0][i] = s.rho * slots[0][i] + (1 - s.rho) * gi * gi
                let increment = lr * gi / (slots[0][i] + s.epsilon).squareRoot()
                if s.momentum > 0 {
                    slots[1][i] = s.momentum * slots[1][i] + increment
                    w[i] -= slots[1][i]
                } else {
                    w[i] -= increment
                }
            }
        }
    }
}

extension Array where Element == [Float] {
    /// Pointers to every inner array's storage at once, for the duration of `body`. Each inner array is
    /// moved out while its pointer lives, so none is copied on write.
    mutating func withUnsafeMutableBufferPointers<R>(_ body: ([UnsafeMutableBufferPointer<Float>]) -> R) -> R {
        var arrays = self
        self = []
        defer { self = arrays }
        func nest(_ k: Int, _ pointers: [UnsafeMutableBufferPointer<Float>]) -> R {
            guard k < arrays.count else { return body(pointers) }
            var taken: [Float] = []
            swap(&taken, &arrays[k])
            defer { swap(&taken, &arrays[k]) }
            return taken.withUnsafeMutableBufferPointer { nest(k + 1, pointers + [$0]) }
        }
        return nest(0, [])
    }
}

/// Σ x² over a buffer, sixteen lanes at a time (a gradient of millions of elements takes a few milliseconds).
private func sumOfSquares(_ x: UnsafeBufferPointer<Float>) -> Double {
    guard let base = x.baseAddress else { return 0 }
    var lanes = SIMD16<Float>()
    var total: Double = 0
    var i = 0
    while i + 16 <= x.count {
        let v = UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<Float>.self)
        lanes.addProduct(v, v)
        i += 16
        // Folded into a double now and then, so millions of small squares do not lose their tails.
        if i % 4096 == 0 {
            total += Double(lanes.sum())
            lanes = SIMD16<Float>()
        }
    }
    total += Double(lanes.sum())
    while i < x.count {
        total += Double(x[i] * x[i])
        i += 1
    }
    return total
}

private func pow(_ base: Float, _ exponent: Float) -> Float { Float(Foundation.pow(Double(base), Double(exponent))) }

import Foundation
