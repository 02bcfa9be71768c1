/// Collects an ONNX graph's nodes and constants in the order they are added (a topological order when
/// every node is added after its inputs), giving every node and value a unique name.
struct ONNXGraphWriter {
    private(set) var nodes: [ONNXNode] = []
    private(set) var initializers: [ONNXTensor] = []
    private var taken = Set<String>()

    private mutating func unique(_ name: String) -> String {
        var candidate = name
        var k = 1
        while taken.contains(candidate) {
            candidate = "\(name)_\(k)"
            k += 1
        }
        taken.insert(candidate)
        return candidate
    }

    mutating func reserve(_ name: String) -> String { unique(name) }

    /// Adds a node with one output named like the node; returns that output.
    mutating func node(_ op: String, _ name: String, _ inputs: [String],
                       _ attributes: [(String, ONNXAttributeValue)] = []) -> String {
        let output = unique(name)
        nodes.append(ONNXNode(name: output, op: op, inputs: inputs, outputs: [output], attributes: attributes))
        return output
    }

    mutating func constant(_ name: String, dims: [Int], _ values: [Float]) -> String {
        let unique = unique(name)
        initializers.append(ONNXTensor(name: unique, dims: dims, values: .float(values)))
        return unique
    }

    mutating func constant(_ name: String, dims: [Int], int64 values: [Int]) -> String {
        let unique = unique(name)
        initializers.append(ONNXTensor(name: unique, dims: dims, values: .int64(values.map(Int64.init))))
        return unique
    }

    /// Gives the value `old` the name `new` everywhere (the graph output gets a stable, documented name).
    mutating func rename(_ old: String, to new: String) {
        nodes = nodes.map { n in
            ONNXNode(name: n.name, op: n.op, inputs: n.inputs.map { $0 == old ? new : $0 },
                     outputs: n.outputs.map { $0 == old ? new : $0 }, attributes: n.attributes)
        }
    }
}
