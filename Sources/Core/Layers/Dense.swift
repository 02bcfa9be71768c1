import CKernels

/// Keras `Dense`: y = x · kernel + bias, kernel (in, out).
public final class Dense: Layer {
    public let name: String
    public let kerasClass = "Dense"
    public let units: Int
    public let activation: ActivationKind
    public let useBias: Bool
    public private(set) var parameters: [Parameter] = []
    private var plan: OpaquePointer?
    private var planBatch = 0

    public init(_ name: String, units: Int, activation: ActivationKind = .linear, useBias: Bool = true) {
        self.name = name
        self.units = units
        self.activation = activation
        self.useBias = useBias
    }

    deinit { ck_matmul_destroy(plan) }

    /// A kernel of 1 GB; VGG19's fc1, the largest layer of any model here, is 0.4 GB.
    static let weightLimit = 1 << 28

    public func build(inputShapes: [[Int]]) throws -> [Int] {
        guard inputShapes.count == 1, inputShapes[0].count == 1 else {
            throw ModelError("layer \(name) expects a flat (features) input, got \(inputShapes)")
        }
        guard units > 0 else { throw ModelError("layer \(name) needs at least one unit, got \(units)") }
        let (weights, overflow) = inputShapes[0][0].multipliedReportingOverflow(by: units)
        guard !overflow, weights <= Self.weightLimit else {
            throw ModelError("layer \(name) would have \(inputShapes[0][0]) x \(units) weights, far more than memory holds; use fewer classes or units, or smaller images")
        }
        parameters = [Parameter(name: "kernel", shape: [inputShapes[0][0], units])]
        if useBias { parameters.append(Parameter(name: "bias", shape: [units])) }
        return [units]
    }

    public func forward(_ inputs: [Tensor]) throws -> Tensor {
        let x = inputs[0]
        let (m, k) = (x.batch, parameters[0].shape[0])
        guard x.count == m * k else { throw ModelError("layer \(name) expects \(k) features, got shape \(x.shape)") }
        if plan == nil || planBatch != m {
            ck_matmul_destroy(plan)
            plan = ck_matmul_create(Int32(m), Int32(k), Int32(units), useBias ? 1 : 0, activation == .relu ? 1 : 0)
            guard plan != nil else { throw ModelError("\(name): \(String(cString: ck_last_error()))") }
            planBatch = m
        }
        let plan = self.plan
        let bias = useBias ? parameters[1].value.data : []
        let y = try Tensor(uninitialized: [m, units]) { out in
            try kernelCheck(ck_matmul_forward(plan, x.data, parameters[0].value.data, bias, out), "\(name) forward")
        }
        return activation == .softmax || activation == .sigmoid ? apply(activation, to: y) : y
    }
}
