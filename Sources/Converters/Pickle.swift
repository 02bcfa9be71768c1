import Core
import KerasFiles

/// A storage a checkpoint refers to by key (`<archive>/data/<key>`), with the element count it claims.
struct StorageReference: Equatable {
    let key: String
    let type: ElementType
    let count: Int
}

/// What `torch._utils._rebuild_tensor_v2` would build: a view into a storage.
struct TensorReference: Equatable {
    let storage: StorageReference
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// The globals a state dict may name; everything else is refused by name before anything happens.
enum PickleGlobal: Equatable {
    case orderedDict, rebuildTensor, rebuildParameter, rebuildParameterWithState, size
    case storage(ElementType)
    case dtype(String)

    /// PyTorch's dtype objects, which checkpoints may hold as plain values.
    static let dtypes: Set<String> = ["float16", "float32", "float64", "bfloat16", "half", "float", "double",
                                      "int8", "int16", "int32", "int64", "uint8", "bool", "long", "int"]

    /// How Python names it, for errors.
    var pythonName: String {
        switch self {
        case .orderedDict: "collections.OrderedDict"
        case .rebuildTensor: "torch._utils._rebuild_tensor_v2"
        case .rebuildParameter: "torch._utils._rebuild_parameter"
        case .rebuildParameterWithState: "torch._utils._rebuild_parameter_with_state"
        case .size: "torch.Size"
        case .storage(let type): "a torch storage of \(type.rawValue)"
        case .dtype(let name): "torch.\(name)"
        }
    }

    init?(module: String, name: String) {
        switch (module, name) {
        case ("collections", "OrderedDict"): self = .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): self = .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): self = .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): self = .rebuildParameterWithState
        case ("torch", "Size"): self = .size
        case ("torch", _):
            if let type = ElementType(storage: name) {
                self = .storage(type)
            } else if Self.dtypes.contains(name) {
                self = .dtype(name)
            } else {
                return nil
            }
        default: return nil
        }
    }
}

/// A dict or list key: state dicts are keyed by strings, some checkpoints' inner dicts by integers.
enum PickleKey: Hashable {
    case string(String), int(Int)
}

/// A value of a restricted pickle. Dicts live in the document's table and are referred to by index, as
/// Python shares them by reference; a pickle can then make a cycle but never an object graph Swift would
/// have to walk or free recursively.
enum PickleValue: Equatable {
    case none, bool(Bool), int(Int), float(Double), string(String), bytes([UInt8])
    /// A tuple and how deeply tuples nest inside it (kept, so nesting is never recounted).
    case tuple([PickleValue], depth: Int)
    /// A list (its items are never needed) or a dict, by its index in the document's table.
    case list, dict(Int)
    case global(PickleGlobal)
    case storage(StorageReference)
    case tensor(TensorReference)

    var key: PickleKey? {
        switch self {
        case .string(let text): .string(text)
        case .int(let value): .int(value)
        default: nil
        }
    }
}

/// An insertion-ordered dict, as Python's are.
struct PickleDict {
    private(set) var keys: [PickleKey] = []
    private(set) var values: [PickleKey: PickleValue] = [:]

    subscript(key: PickleKey) -> PickleValue? { values[key] }

    mutating func set(_ key: PickleKey, _ value: PickleValue) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
    }
}

/// The result of unpickling: the root value and the dicts it refers to (a state dict is a dict of
/// tensors; lists only ever hold optimizer settings, never read).
struct PickleDocument {
    let root: PickleValue
    let dicts: [PickleDict]

    func dict(_ value: PickleValue) -> PickleDict? {
        if case .dict(let index) = value { return dicts[index] }
        return nil
    }
}

/// A pickle reader that understands only what a PyTorch state dict is made of. It interprets the opcodes
/// of protocols 2–5 that build plain data, allows a short list of globals (`collections.OrderedDict`,
/// torch's tensor rebuilders, storage types and dtypes) and calls nothing: a "call" of an allowed global
/// is recognised and turned into data here. Any other opcode or global is refused by name, so a hostile
/// file can never run code; stack, memo and nesting are bounded so it cannot exhaust memory either.
struct RestrictedUnpickler {
    /// Nesting of tuples; a state dict's deepest is a tensor's shape inside its arguments (3).
    static let depthLimit = 100
    static let memoLimit = 1 << 20
    /// Every value a pickle makes costs an opcode, so this bounds memory by far less than the pickle's
    /// size would; a state dict makes about 20 per tensor.
    static let valueLimit = 1 << 22

    let name: String
    private let bytes: [UInt8]
    private var at = 0
    private var stack: [PickleValue] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]
    private var dicts: [PickleDict] = []
    private var made = 0

    /// Unpickles `bytes`; `name` (the file and member) begins every error.
    static func load(_ bytes: [UInt8], name: String) throws -> PickleDocument {
        var reader = RestrictedUnpickler(name: name, bytes: bytes)
        return try reader.run()
    }

    private init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }

    private func fail(_ problem: String) -> WeightsFileError { WeightsFileError("\(name): \(problem)") }

    private mutating func run() throws -> PickleDocument {
        while true {
            let offset = at
            let opcode = try byte()
            switch opcode {
            case 0x80:  // PROTO
                let version = try byte()
                guard (2...5).contains(version) else { throw fail("pickle protocol \(version) is not one torch.save writes") }
            case 0x95: at = try advance(8)  // FRAME: a length hint only
            case 0x2e:  // STOP
                guard stack.count == 1, marks.isEmpty else { throw fail("the pickle stops with \(stack.count) values on its stack; the file is damaged") }
                return PickleDocument(root: stack[0], dicts: dicts)
            case 0x28: marks.append(stack.count)  // MARK
            case 0x7d: try push(.dict(newDict()))  // EMPTY_DICT
            case 0x5d: try push(.list)  // EMPTY_LIST
            case 0x29: try push(.tuple([], depth: 1))  // EMPTY_TUPLE
            case 0x58: try push(.string(try text(Int(try unsigned(4)))))  // BINUNICODE
            case 0x8d: try push(.string(try text(try length(8))))  // BINUNICODE8
            case 0x8c: try push(.string(try text(Int(try byte()))))  // SHORT_BINUNICODE
            case 0x42: try push(.bytes(try raw(Int(try unsigned(4)))))  // BINBYTES
            case 0x43: try push(.bytes(try raw(Int(try byte()))))  // SHORT_BINBYTES
            case 0x4a: try push(.int(Int(Int32(truncatingIfNeeded: try unsigned(4)))))  // BININT
            case 0x4b: try push(.int(Int(try byte())))  // BININT1
            case 0x4d: try push(.int(Int(try unsigned(2))))  // BININT2
            case 0x8a: try push(.int(try long(Int(try byte()))))  // LONG1
            case 0x47: try push(.float(Double(bitPattern: try raw(8).reduce(0) { $0 << 8 | UInt64($1) })))  // BINFLOAT, big-endian
            case 0x88: try push(.bool(true))  // NEWTRUE
            case 0x89: try push(.bool(false))  // NEWFALSE
            case 0x4e: try push(.none)  // NONE
            case 0x74: try push(try tuple(try popMark()))  // TUPLE
            case 0x85, 0x86, 0x87: try push(try tuple(try pop(Int(opcode) - 0x84)))  // TUPLE1-3
            case 0x73: try setItems(try pop(2))  // SETITEM
            case 0x75: try setItems(try popMark())  // SETITEMS
            case 0x61: _ = try pop(1); try checkListTop()  // APPEND
            case 0x65: _ = try popMark(); try checkListTop()  // APPENDS
            case 0x71: try put(Int(try byte()))  // BINPUT
            case 0x72: try put(Int(try unsigned(4)))  // LONG_BINPUT
            case 0x94: try put(memo.count)  // MEMOIZE
            case 0x68: try push(try get(Int(try byte())))  // BINGET
            case 0x6a: try push(try get(Int(try unsigned(4))))  // LONG_BINGET
            case 0x63: try push(try global(module: try line(), name: try line()))  // GLOBAL
            case 0x93:  // STACK_GLOBAL
                let names = try pop(2)
                guard case .string(let module) = names[0], case .string(let name) = names[1] else {
                    throw fail("STACK_GLOBAL without two names; the file is damaged")
                }
                try push(try global(module: module, name: name))
            case 0x52, 0x81:  // REDUCE, NEWOBJ: a call of an allowed global, turned into data
                let popped = try pop(2)
                guard case .global(let callable) = popped[0], case .tuple(let arguments, _) = popped[1] else {
                    throw fail("a call at byte \(offset) of something that is not an allowed function; the file is damaged")
                }
                try push(try call(callable, arguments))
            case 0x62:  // BUILD: sets an object's state; an OrderedDict's `_metadata` or a parameter's attributes
                let popped = try pop(2)
                switch (popped[0], popped[1]) {
                case (.dict, .dict), (.dict, .none), (.tensor, _): try push(popped[0])
                default: throw fail("BUILD at byte \(offset) on a value that has no state; the file is damaged")
                }
            case 0x51:  // BINPERSID: a storage, by key
                try push(try storage(try pop(1)[0]))
            default:
                throw fail(Self.refusal(opcode, at: offset))
            }
        }
    }

    /// The error for an opcode a state dict never uses, by its name when it has one.
    private static func refusal(_ opcode: UInt8, at offset: Int) -> String {
        let names: [UInt8: String] = [
            0x69: "INST", 0x6f: "OBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x50: "PERSID", 0x53: "STRING",
            0x56: "UNICODE", 0x49: "INT", 0x4c: "LONG", 0x46: "FLOAT", 0x64: "DICT", 0x6c: "LIST", 0x67: "GET",
            0x70: "PUT", 0x8b: "LONG4", 0x92: "NEWOBJ_EX", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
            0x98: "READONLY_BUFFER", 0x90: "ADDITEMS", 0x8f: "EMPTY_SET", 0x91: "FROZENSET", 0x30: "POP",
            0x31: "POP_MARK", 0x32: "DUP", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING", 0x8e: "BINBYTES8",
        ]
        let hex = "0x" + String(opcode, radix: 16)
        guard let known = names[opcode] else { return "unknown pickle opcode \(hex) at byte \(offset); the file is damaged or not a checkpoint" }
        return "the pickle opcode \(known) (\(hex)) at byte \(offset) is not one a state dict uses; the file is refused"
    }

    // MARK: reading the stream

    private mutating func byte() throws -> UInt8 {
        guard at < bytes.count else { throw fail("the pickle ends without STOP; the file is truncated") }
        defer { at += 1 }
        return bytes[at]
    }

    /// The position `count` bytes on, checked against the end.
    private func advance(_ count: Int) throws -> Int {
        guard count >= 0, count <= bytes.count - at else { throw fail("the pickle declares \(count) bytes at byte \(at) past its end; the file is truncated or damaged") }
        return at + count
    }

    private mutating func raw(_ count: Int) throws -> [UInt8] {
        let end = try advance(count)
        defer { at = end }
        return Array(bytes[at..<end])
    }

    private mutating func unsigned(_ width: Int) throws -> UInt64 {
        try raw(width).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    private mutating func length(_ width: Int) throws -> Int {
        let value = try unsigned(width)
        guard let count = Int(exactly: value) else { throw fail("the pickle declares \(value) bytes; the file is damaged") }
        return count
    }

    private mutating func text(_ count: Int) throws -> String {
        let utf8 = try raw(count)
        guard let string = String(validating: utf8, as: UTF8.self) else { throw fail("a string at byte \(at - count) is not UTF-8; the file is damaged") }
        return string
    }

    /// A newline-terminated ASCII line (GLOBAL's module and name).
    private mutating func line() throws -> String {
        guard let end = bytes[at...].prefix(256).firstIndex(of: 0x0a) else { throw fail("GLOBAL at byte \(at) has no name; the file is damaged") }
        defer { at = end + 1 }
        return String(decoding: bytes[at..<end], as: UTF8.self)
    }

    /// A little-endian two's-complement integer of `count` bytes, as LONG1 writes it.
    private mutating func long(_ count: Int) throws -> Int {
        let digits = try raw(count)
        guard count <= 8 else { throw fail("an integer of \(count) bytes at byte \(at - count) is larger than any size or offset") }
        guard let last = digits.last else { return 0 }
        let fill: UInt64 = last & 0x80 != 0 ? ~0 : 0
        let value = digits.reversed().reduce(count == 8 ? 0 : fill) { $0 << 8 | UInt64($1) }
        return Int(truncatingIfNeeded: value)
    }

    // MARK: the stack and memo

    private mutating func push(_ value: PickleValue) throws {
        made += 1
        guard made <= Self.valueLimit else { throw fail("the pickle makes more than \(Self.valueLimit) values, far more than any state dict; the file is refused") }
        stack.append(value)
    }

    private mutating func pop(_ count: Int) throws -> [PickleValue] {
        guard stack.count - count >= (marks.last ?? 0) else { throw fail("the pickle takes more values than it has put; the file is damaged") }
        defer { stack.removeLast(count) }
        return Array(stack.suffix(count))
    }

    private mutating func popMark() throws -> [PickleValue] {
        guard let mark = marks.popLast() else { throw fail("the pickle closes a group it never opened; the file is damaged") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    private mutating func put(_ index: Int) throws {
        guard let top = stack.last else { throw fail("the pickle memoizes an empty stack; the file is damaged") }
        guard memo.count < Self.memoLimit || memo[index] != nil else { throw fail("the pickle memoizes more than \(Self.memoLimit) values; the file is refused") }
        memo[index] = top
    }

    private func get(_ index: Int) throws -> PickleValue {
        guard let value = memo[index] else { throw fail("the pickle recalls value \(index), which it never stored; the file is damaged") }
        return value
    }

    private mutating func newDict() -> Int {
        dicts.append(PickleDict())
        return dicts.count - 1
    }


    /// A tuple of `items`, refused when tuples nest too deeply (lists and dicts count as flat: they are
    /// table indices).
    private func tuple(_ items: [PickleValue]) throws -> PickleValue {
        let depth = 1 + items.reduce(0) { deepest, item in
            if case .tuple(_, let depth) = item { max(deepest, depth) } else { deepest }
        }
        guard depth <= Self.depthLimit else { throw fail("tuples nested deeper than \(Self.depthLimit) levels; the file is refused") }
        return .tuple(items, depth: depth)
    }

    private mutating func setItems(_ pairs: [PickleValue]) throws {
        guard pairs.count % 2 == 0, case .dict(let index) = stack.last else { throw fail("SETITEMS without a dict; the file is damaged") }
        for pair in stride(from: 0, to: pairs.count, by: 2) {
            guard let key = pairs[pair].key else { throw fail("a dict key that is neither a string nor an integer; the file is refused") }
            dicts[index].set(key, pairs[pair + 1])
        }
    }

    /// Appending needs a list below the items; they were checked as they were made and are not kept, as
    /// no state dict entry is a list.
    private func checkListTop() throws {
        guard case .list? = stack.last else { throw fail("APPENDS without a list; the file is damaged") }
    }

    // MARK: globals and calls

    private func global(module: String, name: String) throws -> PickleValue {
        guard let global = PickleGlobal(module: module, name: name) else {
            throw fail("the pickle names the global '\(printable(module)).\(printable(name))', which a state dict never needs; refused, nothing was run")
        }
        return .global(global)
    }

    /// What a call of an allowed global would return, built as data.
    private mutating func call(_ callable: PickleGlobal, _ arguments: [PickleValue]) throws -> PickleValue {
        switch (callable, arguments.first) {
        case (.orderedDict, nil): return .dict(newDict())
        case (.size, .tuple?) where arguments.count == 1: return arguments[0]
        case (.rebuildTensor, _): return .tensor(try tensor(arguments))
        case (.rebuildParameter, .tensor(let tensor)?), (.rebuildParameterWithState, .tensor(let tensor)?): return .tensor(tensor)
        default: throw fail("the pickle calls \(callable.pythonName) with arguments it never has in a state dict; the file is refused")
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`.
    private func tensor(_ arguments: [PickleValue]) throws -> TensorReference {
        guard (6...7).contains(arguments.count), case .storage(let storage) = arguments[0], case .int(let offset) = arguments[1],
              let shape = Self.integers(arguments[2]), let strides = Self.integers(arguments[3]), shape.count == strides.count else {
            throw fail("a tensor is rebuilt from arguments a state dict never has; the file is damaged")
        }
        return TensorReference(storage: storage, offset: offset, shape: shape, strides: strides)
    }

    private static func integers(_ value: PickleValue) -> [Int]? {
        guard case .tuple(let items, _) = value else { return nil }
        var integers: [Int] = []
        for item in items {
            guard case .int(let n) = item else { return nil }
            integers.append(n)
        }
        return integers
    }

    /// A persistent id `('storage', torch.FloatStorage, key, location, count)`: a storage in the archive.
    private func storage(_ id: PickleValue) throws -> PickleValue {
        guard case .tuple(let fields, _) = id, fields.count == 5, fields[0] == .string("storage"),
              case .global(.storage(let type)) = fields[1], case .string(let key) = fields[2], case .int(let count) = fields[4],
              count >= 0 else {
            throw fail("a persistent id that is not a torch storage; the file is refused")
        }
        return .storage(StorageReference(key: key, type: type, count: count))
    }
}
