import Core

/// ResNet50 (v1, biases on every convolution, stride on the first 1×1) as `keras.applications.ResNet50`.
public enum ResNet50 {
    public static let groups = LayerGroups([
        ("conv1", "pool1_pool"),
        ("conv2", "conv2_block3_out"),
        ("conv3", "conv3_block4_out"),
        ("conv4", "conv4_block6_out"),
        ("conv5", "conv5_block3_out"),
    ], finalGroup: "top")

    static let variant = ResNetVariant(modelName: "resnet50", epsilon: 1.001e-5, convolutionBias: true,
                                       strideOnThreeByThree: false)

    static func build(_ options: ModelOptions) throws -> Model { try variant.build(options) }
}

/// What tells the ResNet50 variants apart; the stages, blocks and Keras layer names are the same.
struct ResNetVariant {
    let modelName: String
    /// BatchNorm's ε: Keras' 1.001e-5, PyTorch's 1e-5.
    let epsilon: Float
    let convolutionBias: Bool
    /// v1.5 strides the 3×3 convolution (padded symmetrically, as PyTorch pads) instead of the first 1×1.
    let strideOnThreeByThree: Bool

    /// (stage, filters, blocks, stride of the first block)
    static let stages = [(2, 64, 3, 1), (3, 128, 4, 2), (4, 256, 6, 2), (5, 512, 3, 2)]

    func build(_ options: ModelOptions) throws -> Model {
        let g = try GraphBuilder(inputShape: options.inputShape)
        var x = try g.add(ZeroPadding2D("conv1_pad", 3), g.input)
        x = try g.add(Conv2D("conv1_conv", filters: 64, kernel: (7, 7), strides: (2, 2), useBias: convolutionBias), x)
        x = try g.add(BatchNormalization("conv1_bn", epsilon: epsilon), x)
        x = try g.add(Activation("conv1_relu", .relu), x)
        x = try g.add(ZeroPadding2D("pool1_pad", 1), x)
        x = try g.add(Pooling2D("pool1_pool", .max, pool: (3, 3), strides: (2, 2)), x)
        for (stage, filters, blocks, stride) in Self.stages {
            for b in 1...blocks {
                x = try residualBlock(g, x, name: "conv\(stage)_block\(b)", filters: filters,
                                      stride: b == 1 ? stride : 1, projectShortcut: b == 1)
            }
        }
        let top = try attachTop(g, x, options, avgPoolName: "avg_pool", maxPoolName: "max_pool")
        return g.model(name: modelName, output: top)
    }

    private func residualBlock(_ g: GraphBuilder, _ input: NodeRef, name: String, filters: Int,
                               stride: Int, projectShortcut: Bool) throws -> NodeRef {
        var shortcut = input
        if projectShortcut {
            shortcut = try convBN(g, input, "\(name)_0", filters: 4 * filters, kernel: 1, stride: stride)
        }
        var x = try convBN(g, input, "\(name)_1", filters: filters, kernel: 1, stride: strideOnThreeByThree ? 1 : stride)
        x = try g.add(Activation("\(name)_1_relu", .relu), x)
        if strideOnThreeByThree {
            x = try g.add(ZeroPadding2D("\(name)_2_pad", 1), x)
            x = try convBN(g, x, "\(name)_2", filters: filters, kernel: 3, stride: stride)
        } else {
            x = try convBN(g, x, "\(name)_2", filters: filters, kernel: 3, stride: 1, padding: .same)
        }
        x = try g.add(Activation("\(name)_2_relu", .relu), x)
        x = try convBN(g, x, "\(name)_3", filters: 4 * filters, kernel: 1, stride: 1)
        x = try g.add(Add("\(name)_add"), shortcut, x)
        return try g.add(Activation("\(name)_out", .relu), x)
    }

    /// `name_conv` → `name_bn`.
    private func convBN(_ g: GraphBuilder, _ x: NodeRef, _ name: String, filters: Int, kernel: Int, stride: Int,
                        padding: Padding = .valid) throws -> NodeRef {
        let y = try g.add(Conv2D("\(name)_conv", filters: filters, kernel: (kernel, kernel), strides: (stride, stride),
                                 padding: padding, useBias: convolutionBias), x)
        return try g.add(BatchNormalization("\(name)_bn", epsilon: epsilon), y)
    }
}
