import Foundation

/// One use of a layer in a model: the layer, the nodes feeding it, its output shape (no batch axis).
public struct Node {
    public let layer: any Layer
    public let inputs: [Int]
    public let outputShape: [Int]
}

/// A handle to a node while a model is being built.
public struct NodeRef: Hashable, Sendable {
    public let index: Int
    public init(index: Int) { self.index = index }
}

/// Threads tensors through named layers the way a Keras functional model is written.
public final class GraphBuilder {
    public private(set) var nodes: [Node] = []

    public init(inputShape: [Int], inputName: String = "input_layer") throws {
        _ = try add(InputLayer(inputName, shape: inputShape), [])
    }

    /// Continues an existing model (same layer objects, same weights): for new heads.
    public init(continuing model: Model) {
        nodes = model.nodes
    }

    public var input: NodeRef { NodeRef(index: 0) }

    public func shape(of ref: NodeRef) -> [Int] { nodes[ref.index].outputShape }

    @discardableResult
    public func add(_ layer: any Layer, _ inputs: NodeRef...) throws -> NodeRef {
        try add(layer, inputs)
    }

    @discardableResult
    public func add(_ layer: any Layer, _ inputs: [NodeRef]) throws -> NodeRef {
        let shape = try layer.build(inputShapes: inputs.map { nodes[$0.index].outputShape })
        nodes.append(Node(layer: layer, inputs: inputs.map(\.index), outputShape: shape))
        return NodeRef(index: nodes.count - 1)
    }

    public func model(name: String, output: NodeRef) -> Model {
        Model(name: name, nodes: nodes, output: output.index)
    }
}

/// A directed acyclic graph of Keras layers with one input and one output. Not Sendable: a model and its
/// caches belong to one thread at a time (the kernels use every core inside one call).
public final class Model {
    public let name: String
    /// Nodes in creation order, which is a valid execution order; node 0 is the input.
    public let nodes: [Node]
    public let output: Int
    /// Keras' `model.layers` order: the order of `layer_names` in weight files and of positional loading.
    public let layers: [any Layer]
    private lazy var plan = InferencePlan(model: self)

    init(name: String, nodes: [Node], output: Int) {
        self.name = name
        self.nodes = nodes
        self.output = output
        self.layers = Model.kerasOrder(nodes: nodes, output: output).map { nodes[$0].layer }
    }

    public var inputShape: [Int] { nodes[0].outputShape }
    public var outputShape: [Int] { nodes[output].outputShape }
    public var weightedLayers: [any Layer] { layers.filter { !$0.parameters.isEmpty } }
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameters.reduce(0) { $0 + $1.value.count } } }

    public func layer(named name: String) -> (any Layer)? { layers.first { $0.name == name } }

    public func nodeIndex(ofLayer name: String) -> Int? { nodes.firstIndex { $0.layer.name == name } }

    /// The model up to and including node `index` (same layer objects).
    public func prefix(through index: Int) -> Model {
        Model(name: name, nodes: Array(nodes[...index]), output: index)
    }

    /// The nodes after `index` as a model whose input is node `index`'s output (same layer objects).
    /// Later nodes may only read node `index` or each other.
    public func suffix(after index: Int) throws -> Model {
        var remapped = [Node(layer: InputLayer("features", shape: nodes[index].outputShape), inputs: [],
                             outputShape: nodes[index].outputShape)]
        var position = [index: 0]
        for n in (index + 1)..<nodes.count {
            let inputs = try nodes[n].inputs.map { input -> Int in
                guard let mapped = position[input] else {
                    throw ModelError("layer \(nodes[n].layer.name) reads a layer before \(nodes[index].layer.name)")
                }
                return mapped
            }
            position[n] = remapped.count
            remapped.append(Node(layer: nodes[n].layer, inputs: inputs, outputShape: nodes[n].outputShape))
        }
        guard let out = position[output] else { throw ModelError("the output comes before \(nodes[index].layer.name)") }
        return Model(name: name + "_head", nodes: remapped, output: out)
    }

    /// Runs the model in inference mode on an NHWC batch.
    public func predict(_ x: Tensor) throws -> Tensor {
        guard x.shape.count == inputShape.count + 1, Array(x.shape.dropFirst()) == inputShape else {
            let expected = inputShape.map(String.init).joined(separator: "x")
            throw ModelError("model \(name) expects input batches of shape N x \(expected), got \(x.shape.map(String.init).joined(separator: "x"))")
        }
        guard x.batch > 0 else { throw ModelError("the input batch is empty") }
        return try plan.run(x)
    }

    /// Keras' `map_graph`: depth = longest path to the output; layers by depth descending,
    /// ties broken by the order a depth-first walk from the output first reaches them.
    static func kerasOrder(nodes: [Node], output: Int) -> [Int] {
        var firstVisit: [Int: Int] = [:]
        var finished = Set<Int>()
        var postOrder: [Int] = []
        func visit(_ n: Int) {
            if finished.contains(n) { return }
            if firstVisit[n] == nil { firstVisit[n] = firstVisit.count }
            for input in nodes[n].inputs { visit(input) }
            finished.insert(n)
            postOrder.append(n)
        }
        visit(output)
        var depth: [Int: Int] = [:]
        for n in postOrder.reversed() {
            let d = depth[n, default: 0]
            depth[n] = d
            for input in nodes[n].inputs { depth[input] = max(depth[input, default: 0], d + 1) }
        }
        return postOrder.sorted { a, b in
            depth[a]! != depth[b]! ? depth[a]! > depth[b]! : firstVisit[a]! < firstVisit[b]!
        }
    }
}

extension Model {
    /// The least memory a batch needs, counted from the model's shapes before anything is allocated:
    /// the weights (with a gradient and two optimizer moments each when training) and the activations
    /// (every layer's output is kept for the backward pass when training; inference holds a few of the
    /// largest at a time). Measured peaks are 1.0–1.5 times this (ResNet50 and Xception, batch 8 at 160x160).
    public func estimatedBytes(batch: Int, training: Bool) -> Double {
        let weights = Double(layers.reduce(0) { $0 + $1.parameters.reduce(0) { $0 + $1.value.count } })
        let activations = nodes.map { Double($0.outputShape.reduce(1, *)) }
        let perImage = training ? activations.reduce(0, +) : 3 * (activations.max() ?? 0)
        return 4 * (weights * (training ? 4 : 1) + perImage * Double(batch))
    }

    /// Refuses a batch this machine cannot hold, before it is tried: the kernel would kill the process
    /// partway instead, or swap for hours.
    public func checkMemory(batch: Int, training: Bool, inputDescription: String) throws {
        let needed = estimatedBytes(batch: batch, training: training)
        let available = Double(ProcessInfo.processInfo.physicalMemory)
        guard needed <= available else {
            let gb = { String(format: "%.1f GB", $0 / Double(1 << 30)) }
            throw ModelError("\(name) at \(inputDescription) needs about \(gb(needed)) for a batch of \(batch) (\(training ? "training" : "inference")), more than this machine's \(gb(available)); use smaller images or batches")
        }
    }
}
