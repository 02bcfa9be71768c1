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

/// A directed acyclic graph of Keras layers with one input and one output.
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
