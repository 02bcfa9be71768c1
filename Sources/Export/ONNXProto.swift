import Foundation

/// The parts of `onnx.proto` an exported model uses, with their field numbers.

/// A constant tensor (TensorProto): float32 weights or int64 indices, stored as little-endian raw data.
struct ONNXTensor {
    enum Values {
        case float([Float])
        case int64([Int64])
    }

    let name: String
    let dims: [Int]
    let values: Values

    var encoded: ProtobufMessage {
        var m = ProtobufMessage()
        for d in dims { m.int(1, d) }
        var raw: [UInt8] = []
        switch values {
        case .float(let v):
            m.int(2, 1)  // FLOAT
            raw.reserveCapacity(4 * v.count)
            for x in v { raw.append(littleEndian: x.bitPattern) }
        case .int64(let v):
            m.int(2, 7)  // INT64
            for x in v { raw.append(littleEndian: x) }
        }
        m.string(8, name)
        m.bytes(9, raw)
        return m
    }
}

/// A node attribute (AttributeProto) of the kinds our operators take.
enum ONNXAttributeValue {
    case int(Int)
    case ints([Int])
    case float(Float)
}

/// One operator application (NodeProto).
struct ONNXNode {
    let name: String
    let op: String
    let inputs: [String]
    let outputs: [String]
    let attributes: [(String, ONNXAttributeValue)]

    var encoded: ProtobufMessage {
        var m = ProtobufMessage()
        for i in inputs { m.string(1, i) }
        for o in outputs { m.string(2, o) }
        m.string(3, name)
        m.string(4, op)
        for (key, value) in attributes {
            var a = ProtobufMessage()
            a.string(1, key)
            switch value {
            case .float(let f):
                a.float(2, f)
                a.int(20, 1)  // FLOAT
            case .int(let i):
                a.int(3, i)
                a.int(20, 2)  // INT
            case .ints(let list):
                for i in list { a.int(8, i) }
                a.int(20, 7)  // INTS
            }
            m.message(5, a)
        }
        return m
    }
}

/// A typed float32 graph input or output (ValueInfoProto); nil dimensions are the symbolic batch.
struct ONNXValueInfo {
    let name: String
    let dims: [Int?]

    var encoded: ProtobufMessage {
        var shape = ProtobufMessage()
        for d in dims {
            var dim = ProtobufMessage()
            if let d { dim.int(1, d) } else { dim.string(2, "batch") }
            shape.message(1, dim)
        }
        var tensor = ProtobufMessage()
        tensor.int(1, 1)  // FLOAT
        tensor.message(2, shape)
        var type = ProtobufMessage()
        type.message(1, tensor)
        var m = ProtobufMessage()
        m.string(1, name)
        m.message(2, type)
        return m
    }
}

/// A whole model file (ModelProto with its GraphProto).
struct ONNXModelFile {
    /// IR version 7 is the one that goes with opset 13.
    static let irVersion = 7
    static let opset = 13

    let graphName: String
    let nodes: [ONNXNode]
    let initializers: [ONNXTensor]
    let input: ONNXValueInfo
    let output: ONNXValueInfo
    let metadata: [(String, String)]

    var bytes: [UInt8] {
        var graph = ProtobufMessage()
        for n in nodes { graph.message(1, n.encoded) }
        graph.string(2, graphName)
        for t in initializers { graph.message(5, t.encoded) }
        graph.message(11, input.encoded)
        graph.message(12, output.encoded)
        var opset = ProtobufMessage()
        opset.string(1, "")
        opset.int(2, Self.opset)
        var m = ProtobufMessage()
        m.int(1, Self.irVersion)
        m.string(2, "finetune")
        m.message(7, graph)
        m.message(8, opset)
        for (key, value) in metadata {
            var entry = ProtobufMessage()
            entry.string(1, key)
            entry.string(2, value)
            m.message(14, entry)
        }
        return m.bytes
    }
}
