import Core

/// InceptionV3 as `keras.applications.InceptionV3`; every convolution, BatchNorm and ReLU is auto-named.
public enum InceptionV3 {
    public static let groups = LayerGroups(
        [("stem", "max_pooling2d_1")] + (0...10).map { ("mixed\($0)", "mixed\($0)") },
        finalGroup: "top")

    /// Builds the graph with Keras' naming: `conv2d_bn` is Conv2D (no bias) → BN (no gamma) → ReLU.
    private final class Builder {
        let g: GraphBuilder
        let names = AutoNames()

        init(_ g: GraphBuilder) { self.g = g }

        func convBN(_ x: NodeRef, _ filters: Int, _ kh: Int, _ kw: Int,
                    strides: Int = 1, padding: Padding = .same) throws -> NodeRef {
            var y = try g.add(Conv2D(names.next("conv2d"), filters: filters, kernel: (kh, kw),
                                     strides: (strides, strides), padding: padding, useBias: false), x)
            y = try g.add(BatchNormalization(names.next("batch_normalization"), scale: false), y)
            return try g.add(Activation(names.next("activation"), .relu), y)
        }

        func maxPool(_ x: NodeRef) throws -> NodeRef {
            try g.add(Pooling2D(names.next("max_pooling2d"), .max, pool: (3, 3), strides: (2, 2)), x)
        }

        func averagePool(_ x: NodeRef) throws -> NodeRef {
            try g.add(Pooling2D(names.next("average_pooling2d"), .average, pool: (3, 3), strides: (1, 1), padding: .same), x)
        }

        func concat(_ branches: [NodeRef], name: String? = nil) throws -> NodeRef {
            try g.add(Concatenate(name ?? names.next("concatenate")), branches)
        }
    }

    static func build(_ options: ModelOptions) throws -> Model {
        let g = try GraphBuilder(inputShape: options.inputShape)
        let b = Builder(g)
        var x = try b.convBN(g.input, 32, 3, 3, strides: 2, padding: .valid)
        x = try b.convBN(x, 32, 3, 3, padding: .valid)
        x = try b.convBN(x, 64, 3, 3)
        x = try b.maxPool(x)
        x = try b.convBN(x, 80, 1, 1, padding: .valid)
        x = try b.convBN(x, 192, 3, 3, padding: .valid)
        x = try b.maxPool(x)

        // mixed0–2: 35×35
        for (i, poolFilters) in [32, 64, 64].enumerated() {
            let b1 = try b.convBN(x, 64, 1, 1)
            let b5 = try b.convBN(try b.convBN(x, 48, 1, 1), 64, 5, 5)
            var b3 = try b.convBN(x, 64, 1, 1)
            b3 = try b.convBN(try b.convBN(b3, 96, 3, 3), 96, 3, 3)
            let bp = try b.convBN(try b.averagePool(x), poolFilters, 1, 1)
            x = try b.concat([b1, b5, b3, bp], name: "mixed\(i)")
        }

        // mixed3: 17×17
        do {
            let b3 = try b.convBN(x, 384, 3, 3, strides: 2, padding: .valid)
            var bd = try b.convBN(try b.convBN(x, 64, 1, 1), 96, 3, 3)
            bd = try b.convBN(bd, 96, 3, 3, strides: 2, padding: .valid)
            let bp = try b.maxPool(x)
            x = try b.concat([b3, bd, bp], name: "mixed3")
        }

        // mixed4–7: factorised 7×7
        for (i, width) in [128, 160, 160, 192].enumerated() {
            let b1 = try b.convBN(x, 192, 1, 1)
            var b7 = try b.convBN(x, width, 1, 1)
            b7 = try b.convBN(b7, width, 1, 7)
            b7 = try b.convBN(b7, 192, 7, 1)
            var bd = try b.convBN(x, width, 1, 1)
            bd = try b.convBN(bd, width, 7, 1)
            bd = try b.convBN(bd, width, 1, 7)
            bd = try b.convBN(bd, width, 7, 1)
            bd = try b.convBN(bd, 192, 1, 7)
            let bp = try b.convBN(try b.averagePool(x), 192, 1, 1)
            x = try b.concat([b1, b7, bd, bp], name: "mixed\(4 + i)")
        }

        // mixed8: 8×8
        do {
            var b3 = try b.convBN(x, 192, 1, 1)
            b3 = try b.convBN(b3, 320, 3, 3, strides: 2, padding: .valid)
            var b7 = try b.convBN(x, 192, 1, 1)
            b7 = try b.convBN(b7, 192, 1, 7)
            b7 = try b.convBN(b7, 192, 7, 1)
            b7 = try b.convBN(b7, 192, 3, 3, strides: 2, padding: .valid)
            let bp = try b.maxPool(x)
            x = try b.concat([b3, b7, bp], name: "mixed8")
        }

        // mixed9–10: expanded filter banks
        for i in 0..<2 {
            let b1 = try b.convBN(x, 320, 1, 1)
            let b3 = try b.convBN(x, 384, 1, 1)
            let b3split = try b.concat([try b.convBN(b3, 384, 1, 3), try b.convBN(b3, 384, 3, 1)], name: "mixed9_\(i)")
            var bd = try b.convBN(x, 448, 1, 1)
            bd = try b.convBN(bd, 384, 3, 3)
            let bdSplit = try b.concat([try b.convBN(bd, 384, 1, 3), try b.convBN(bd, 384, 3, 1)])
            let bp = try b.convBN(try b.averagePool(x), 192, 1, 1)
            x = try b.concat([b1, b3split, bdSplit, bp], name: "mixed\(9 + i)")
        }

        let top = try attachTop(g, x, options, avgPoolName: "global_average_pooling2d", maxPoolName: "global_max_pooling2d")
        return g.model(name: "inception_v3", output: top)
    }
}
