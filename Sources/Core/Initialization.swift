/// A small, fast, seedable generator (SplitMix64), so runs repeat exactly for a seed.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Codable {
    /// The whole state: saving and restoring it continues the same sequence.
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Model {
    /// Keras' default initial values: Glorot-uniform kernels, zero biases and betas,
    /// unit gammas and variances, zero means.
    public func initializeWeights(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        for layer in layers { layer.initializeGlorot(using: &rng) }
    }
}

extension Layer {
    /// Glorot-uniform values for this layer's kernels (Keras' default initializer).
    public func initializeGlorot(using rng: inout SeededGenerator) {
        for parameter in parameters where parameter.name.hasSuffix("kernel") {
            let shape = parameter.shape
            let receptive = shape.dropLast(2).reduce(1, *)
            let fanIn = (shape.count >= 2 ? shape[shape.count - 2] : 1) * receptive
            let fanOut = (shape.last ?? 1) * receptive
            let limit = Float((6.0 / Double(fanIn + fanOut)).squareRoot())
            var value = parameter.value
            for i in value.data.indices { value.data[i] = Float.random(in: -limit...limit, using: &rng) }
            parameter.value = value
        }
    }
}
