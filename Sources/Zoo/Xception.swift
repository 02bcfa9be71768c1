import Core

/// Xception as `keras.applications.Xception`; the residual projections and adds are auto-named.
public enum Xception {
    public static let groups = LayerGroups(
        [("block1", "block1_conv2_act"), ("block2", "add"), ("block3", "add_1"), ("block4", "add_2")]
            + (5...12).map { ("block\($0)", "add_\($0 - 2)") }
            + [("block13", "add_11"), ("block14", "block14_sepconv2_act")],
        finalGroup: "top")

    private final class Builder {
        let g: GraphBuilder
        let names = AutoNames()

        init(_ g: GraphBuilder) { self.g = g }

        func relu(_ x: NodeRef, _ name: String) throws -> NodeRef { try g.add(Activation(name, .relu), x) }

        /// `name` SeparableConv2D 3×3 'same' → `name_bn`.
        func sepConvBN(_ x: NodeRef, _ name: String, _ filters: Int) throws -> NodeRef {
            let y = try g.add(SeparableConv2D(name, filters: filters, kernel: (3, 3), padding: .same, useBias: false), x)
            return try g.add(BatchNormalization("\(name)_bn"), y)
        }

        /// Entry and exit blocks: two separable convolutions, a strided max-pool, a 1×1 strided projection.
        func downsamplingBlock(_ x: NodeRef, block: Int, filters: (Int, Int), leadingReLU: Bool) throws -> NodeRef {
            var residual = try g.add(Conv2D(names.next("conv2d"), filters: filters.1, kernel: (1, 1), strides: (2, 2),
                                            padding: .same, useBias: false), x)
            residual = try g.add(BatchNormalization(names.next("batch_normalization")), residual)
            var y = leadingReLU ? try relu(x, "block\(block)_sepconv1_act") : x
            y = try sepConvBN(y, "block\(block)_sepconv1", filters.0)
            y = try relu(y, "block\(block)_sepconv2_act")
            y = try sepConvBN(y, "block\(block)_sepconv2", filters.1)
            y = try g.add(Pooling2D("block\(block)_pool", .max, pool: (3, 3), strides: (2, 2), padding: .same), y)
            return try g.add(Add(names.next("add")), y, residual)
        }
    }

    static func build(_ options: ModelOptions) throws -> Model {
        let g = try GraphBuilder(inputShape: options.inputShape)
        let b = Builder(g)
        var x = try g.add(Conv2D("block1_conv1", filters: 32, kernel: (3, 3), strides: (2, 2), useBias: false), g.input)
        x = try g.add(BatchNormalization("block1_conv1_bn"), x)
        x = try b.relu(x, "block1_conv1_act")
        x = try g.add(Conv2D("block1_conv2", filters: 64, kernel: (3, 3), useBias: false), x)
        x = try g.add(BatchNormalization("block1_conv2_bn"), x)
        x = try b.relu(x, "block1_conv2_act")

        x = try b.downsamplingBlock(x, block: 2, filters: (128, 128), leadingReLU: false)
        x = try b.downsamplingBlock(x, block: 3, filters: (256, 256), leadingReLU: true)
        x = try b.downsamplingBlock(x, block: 4, filters: (728, 728), leadingReLU: true)

        for block in 5...12 {
            var y = x
            for k in 1...3 {
                y = try b.relu(y, "block\(block)_sepconv\(k)_act")
                y = try b.sepConvBN(y, "block\(block)_sepconv\(k)", 728)
            }
            x = try g.add(Add(b.names.next("add")), y, x)
        }

        x = try b.downsamplingBlock(x, block: 13, filters: (728, 1024), leadingReLU: true)
        x = try b.sepConvBN(x, "block14_sepconv1", 1536)
        x = try b.relu(x, "block14_sepconv1_act")
        x = try b.sepConvBN(x, "block14_sepconv2", 2048)
        x = try b.relu(x, "block14_sepconv2_act")

        let top = try attachTop(g, x, options, avgPoolName: "global_average_pooling2d", maxPoolName: "global_max_pooling2d")
        return g.model(name: "xception", output: top)
    }
}
