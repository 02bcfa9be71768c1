import CKernels

/// The model's nodes as inference steps, with BatchNorm and ReLU folded into the convolution before them,
/// a residual addition (and its ReLU) into the convolution that feeds it, and ReLU fused into other additions
/// (free speed TensorFlow leaves).
final class InferencePlan {
    fileprivate enum Step {
        case layer(node: Int)
        /// `residual`: the other input of an addition the convolution (after its BatchNorm) feeds.
        case convolution(node: Int, batchNorm: BatchNormalization?, residual: Int?, relu: Bool, output: Int)
        case addRelu(node: Int, output: Int)
    }

    private let model: Model
    private var steps: [Step] = []
    /// For each step, the values no later step reads.
    private var releases: [[Int]] = []

    init(model: Model) {
        ck_keep_freed_memory()
        self.model = model
        let nodes = model.nodes
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() { for input in Set(node.inputs) { consumers[input].append(index) } }
        func soleConsumer(_ n: Int) -> Int? {
            n != model.output && consumers[n].count == 1 ? consumers[n][0] : nil
        }
        func isReLU(_ n: Int?) -> Bool { n.map { (nodes[$0].layer as? Activation)?.kind == .relu } ?? false }

        var absorbed = Set<Int>()
        for index in nodes.indices where !absorbed.contains(index) {
            let layer = nodes[index].layer
            if let conv = layer as? any FusableConvolution, (conv as? Conv2D)?.activation ?? .linear == .linear {
                var last = index
                var batchNorm: BatchNormalization?
                if let next = soleConsumer(last), let bn = nodes[next].layer as? BatchNormalization {
                    batchNorm = bn
                    last = next
                }
                // The addition's other input must be ready before this convolution runs.
                var residual: Int?
                if conv is Conv2D, let next = soleConsumer(last), nodes[next].layer is Add,
                   let other = nodes[next].inputs.first(where: { $0 != last }), other < index {
                    residual = other
                    last = next
                }
                let relu = isReLU(soleConsumer(last))
                if relu { last = soleConsumer(last)! }
                absorbed.formUnion(index + 1...last)
                steps.append(.convolution(node: index, batchNorm: batchNorm, residual: residual, relu: relu, output: last))
            } else if layer is Add, isReLU(soleConsumer(index)) {
                let relu = soleConsumer(index)!
                absorbed.insert(relu)
                steps.append(.addRelu(node: index, output: relu))
            } else {
                steps.append(.layer(node: index))
            }
        }
        // Values are keyed by the node whose output they are; free each after its last reader.
        var lastRead: [Int: Int] = [:]
        for (position, step) in steps.enumerated() {
            for input in nodes[step.node].inputs + [step.residual].compactMap({ $0 }) { lastRead[input] = position }
        }
        releases = [[Int]](repeating: [], count: steps.count)
        for (value, position) in lastRead where value != model.output { releases[position].append(value) }
    }

    func run(_ x: Tensor) throws -> Tensor {
        let nodes = model.nodes
        var values = [Tensor?](repeating: nil, count: nodes.count)
        values[0] = x
        for (position, step) in steps.enumerated() {
            let inputs = nodes[step.node].inputs.map { values[$0]! }
            switch step {
            case .layer(let node):
                values[node] = node == 0 ? x : try nodes[node].layer.forward(inputs)
            case .convolution(let node, let batchNorm, let residual, let relu, let output):
                let conv = nodes[node].layer as! any FusableConvolution
                var epilogue = batchNorm?.inferenceAffine(relu: relu) ?? .none
                epilogue.relu = relu
                if let residual {
                    let sum = values[residual]!
                    // Its last reader lets go first, so the convolution writes into its storage without a copy.
                    if releases[position].contains(residual) { values[residual] = nil }
                    values[output] = try (conv as! Conv2D).forward(inputs[0], epilogue: epilogue, adding: consume sum)
                } else {
                    values[output] = try conv.forward(inputs[0], epilogue: epilogue)
                }
            case .addRelu(let node, let output):
                values[output] = try (nodes[node].layer as! Add).add(inputs[0], inputs[1], relu: true)
            }
            for value in releases[position] { values[value] = nil }
        }
        return values[model.output]!
    }
}

private extension InferencePlan.Step {
    var node: Int {
        switch self {
        case .layer(let node), .convolution(let node, _, _, _, _), .addRelu(let node, _): return node
        }
    }

    var residual: Int? {
        if case .convolution(_, _, let residual, _, _) = self { return residual }
        return nil
    }
}
