import Core

/// ResNet50 (v1, biases on every convolution, stride on the first 1×1) as `keras.applications.ResNet50`.
public enum ResNet50 {
    static let epsilon: Float = 1.001e-5

    public static let groups = LayerGroups([
        ("conv1", "pool1_pool"),
        ("conv2", "conv2_block3_out"),
        ("conv3", "conv3_block4_out"),
        ("conv4", "conv4_block6_out"),
        ("conv5", "conv5_block3_out"),
    ], finalGroup: "top")

    /// (stage, filters, blocks, stride of the first block)
    static let stages = [(2, 64, 3, 1), (3, 128, 4, 2), (4, 256, 6, 2), (5, 512, 3, 2)]

    static func build(_ options: ModelOptions) throws -> Model {
        let g = try GraphBuilder(inputShape: options.inputShape)
        var x = try g.add(ZeroPadding2D("conv1_pad", 3), g.input)
        x = try g.add(Conv2D("conv1_conv", filters: 64, kernel: (7, 7), strides: (2, 2)), x)
        x = try g.add(BatchNormalization("conv1_bn", epsilon: epsilon), x)
        x = try g.add(Activation("conv1_relu", .relu), x)
        x = try g.add(ZeroPadding2D("pool1_pad", 1), x)
        x = try g.add(Pooling2D("pool1_pool", .max, pool: (3, 3), strides: (2, 2)), x)
        for (stage, filters, blocks, stride) in stages {
            for b in 1...blocks {
                x = try residualBlock(g, x, name: "conv\(stage)_block\(b)", filters: filters,
                                      stride: b == 1 ? stride : 1, projectShortcut: b == 1)
            }
        }
        let top = try attachTop(g, x, options, avgPoolName: "avg_pool", maxPoolName: "max_pool")
        return g.model(name: "resnet50", output: top)
    }

    static func residualBlock(_ g: GraphBuilder, _ input: NodeRef, name: String, filters: Int,
                              stride: Int, projectShortcut: Bool) throws -> NodeRef {
        var shortcut = input
        if projectShortcut {
            shortcut = try g.add(Conv2D("\(name)_0_conv", filters: 4 * filters, kernel: (1, 1), strides: (stride, stride)), input)
            shortcut = try g.add(BatchNormalization("\(name)_0_bn", epsilon: epsilon), shortcut)
        }
        var x = try g.add(Conv2D("\(name)_1_conv", filters: filters, kernel: (1, 1), strides: (stride, stride)), input)
        x = try g.add(BatchNormalization("\(name)_1_bn", epsilon: epsilon), x)
        x = try g.add(Activation("\(name)_1_relu", .relu), x)
        x = try g.add(Conv2D("\(name)_2_conv", filters: filters, kernel: (3, 3), padding: .same), x)
        x = try g.add(BatchNormalization("\(name)_2_bn", epsilon: epsilon), x)
        x = try g.add(Activation("\(name)_2_relu", .relu), x)
        x = try g.add(Conv2D("\(name)_3_conv", filters: 4 * filters, kernel: (1, 1)), x)
        x = try g.add(BatchNormalization("\(name)_3_bn", epsilon: epsilon), x)
        x = try g.add(Add("\(name)_add"), shortcut, x)
        return try g.add(Activation("\(name)_out", .relu), x)
    }
}
