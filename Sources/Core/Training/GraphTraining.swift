import CKernels

/// Gradients of a loss with respect to the trainable parameters of a model, by one forward
/// pass that keeps what backward needs and one backward walk in reverse node order.
public struct GraphTraining {
    public let model: Model
    /// Layers whose trainable parameters get gradients; all others are frozen.
    public let trainableLayers: Set<ObjectIdentifier>
    /// Nodes whose output gradient is needed: a trainable node or a node downstream of one.
    private let needsGradient: [Bool]
    /// Outputs that some backward pass reads; the others are freed during the forward pass.
    private let keptForBackward: [Bool]
    /// The last node that reads each node's output in the forward pass.
    private let lastReader: [Int]
    /// Nodes after whose backward pass their layer's parameter gradients are final (a layer's first node).
    private let completesLayer: [Bool]

    public init(model: Model, trainableLayers: Set<ObjectIdentifier>) throws {
        ck_keep_freed_memory()
        self.model = model
        self.trainableLayers = trainableLayers
        var needs = [Bool](repeating: false, count: model.nodes.count)
        for (index, node) in model.nodes.enumerated() {
            guard node.layer is any Differentiable else {
                throw ModelError("layer \(node.layer.name) (\(node.layer.kerasClass)) cannot be trained")
            }
            let trains = trainableLayers.contains(ObjectIdentifier(node.layer)) && node.layer.parameters.contains { $0.trainable }
            needs[index] = trains || node.inputs.contains { needs[$0] }
        }
        needsGradient = needs
        var kept = model.nodes.map { ($0.layer as! any Differentiable).backwardReadsOutput }
        var last = Array(model.nodes.indices)
        for (index, node) in model.nodes.enumerated() {
            for input in node.inputs {
                last[input] = index
                if (node.layer as! any Differentiable).backwardReadsInputs { kept[input] = true }
            }
        }
        kept[model.output] = true
        keptForBackward = kept
        lastReader = last
        var firstNode: [ObjectIdentifier: Int] = [:]
        for (index, node) in model.nodes.enumerated() where firstNode[ObjectIdentifier(node.layer)] == nil {
            firstNode[ObjectIdentifier(node.layer)] = index
        }
        completesLayer = model.nodes.indices.map { firstNode[ObjectIdentifier(model.nodes[$0].layer)] == $0 }
    }

    public func isTrainable(_ layer: any Layer) -> Bool { trainableLayers.contains(ObjectIdentifier(layer)) }

    /// Stands in for a freed tensor that no backward pass reads.
    private static let released = Tensor(shape: [0], data: [])

    /// The loss on a batch, the gradient of every trainable parameter, and the logits the loss saw.
    /// With `exchange` (a data-parallel step) each layer's gradients join the sum over the processes as soon as
    /// backward has them, and the gradients returned are that sum.
    public func lossAndGradients(_ x: Tensor, _ targets: Targets, loss: Loss, context: inout TrainingContext,
                                 exchange: GradientExchange? = nil) throws
        -> (loss: Float, gradients: [ObjectIdentifier: Tensor], logits: Tensor) {
        let nodes = model.nodes
        guard x.batch > 0 else { throw ModelError("the batch is empty") }
        guard Array(x.shape.dropFirst()) == model.inputShape else {
            throw ModelError("model \(model.name) expects images of shape \(model.inputShape), got \(Array(x.shape.dropFirst()))")
        }
        guard let head = nodes[model.output].layer as? Dense, head.activation != .relu else {
            throw ModelError("training needs a model ending in a Dense classifier (softmax, sigmoid or logits)")
        }
        // Forward; the classifier's logits feed the loss directly, as Keras does.
        var outputs = [Tensor?](repeating: nil, count: nodes.count)
        var saved = [[Tensor]](repeating: [], count: nodes.count)
        outputs[0] = x
        for index in 1..<nodes.count {
            let layer = nodes[index].layer as! any Differentiable
            let inputs = nodes[index].inputs.map { outputs[$0]! }
            if index == model.output {
                outputs[index] = try head.logits(inputs[0])
            } else {
                (outputs[index], saved[index]) = try layer.forwardTraining(inputs, context: &context)
            }
            for input in nodes[index].inputs where lastReader[input] == index && !keptForBackward[input] {
                outputs[input] = GraphTraining.released
            }
        }
        let (value, logitGradient) = try loss.evaluate(logits: outputs[model.output]!, targets: targets, meanOver: context.globalBatch)
        guard value.isFinite else { throw TrainingError("the loss is \(value)", kind: .diverged) }

        // Backward in reverse order, summing gradients where a tensor fans out.
        var gradients = [Tensor?](repeating: nil, count: nodes.count)
        var parameterGradients: [ObjectIdentifier: Tensor] = [:]
        // Every consumer of a node comes after it, so once its own backward is done its output can go.
        for index in stride(from: nodes.count - 1, through: 1, by: -1) {
            defer {
                if index != model.output { outputs[index] = nil }
            }
            guard needsGradient[index] else { continue }
            let node = nodes[index]
            let inputs = node.inputs.map { outputs[$0]! }
            let wantsInputs = node.inputs.map { needsGradient[$0] }
            let trains = isTrainable(node.layer)
            let result: LayerGradients
            if index == model.output {
                result = try head.gradients(logitGradient: logitGradient, input: inputs[0], needsInput: wantsInputs[0],
                                            needsParameters: trains)
            } else {
                guard let gradient = gradients[index] else { continue }
                let layer = node.layer as! any Differentiable
                result = try layer.backward(BackwardPass(inputs: inputs, output: outputs[index]!, gradient: gradient,
                                                         saved: saved[index], needsInputGradients: wantsInputs,
                                                         needsParameterGradients: trains, batchNormSync: context.batchNormSync))
            }
            gradients[index] = nil
            saved[index] = []
            if trains {
                for (parameter, g) in zip(node.layer.parameters, result.parameters) where parameter.trainable {
                    let key = ObjectIdentifier(parameter)
                    if parameterGradients[key] == nil { parameterGradients[key] = g } else { parameterGradients[key]!.add(g) }
                }
                if let exchange, completesLayer[index] {
                    for parameter in node.layer.parameters where parameter.trainable {
                        exchange.add(ObjectIdentifier(parameter), parameterGradients[ObjectIdentifier(parameter)]!)
                    }
                }
            }
            exchange?.progress()
            for (input, g) in zip(node.inputs, result.inputs) {
                guard let g, needsGradient[input] else { continue }
                if gradients[input] == nil { gradients[input] = g } else { gradients[input]!.add(g) }
            }
        }
        return (value, exchange?.finish() ?? parameterGradients, outputs[model.output]!)
    }
}

extension Tensor {
    /// self += other, on oneDNN's threads.
    mutating func add(_ other: Tensor) {
        precondition(count == other.count)
        let n = count
        data.withUnsafeMutableBufferPointer { a in _ = ck_add(a.baseAddress, other.data, a.baseAddress, n, 0) }
    }
}
