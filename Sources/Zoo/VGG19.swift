import Core

/// VGG19 as `keras.applications.VGG19`: ReLU inside the convolutions, no BatchNorm.
public enum VGG19 {
    public static let groups = LayerGroups([
        ("block1", "block1_pool"),
        ("block2", "block2_pool"),
        ("block3", "block3_pool"),
        ("block4", "block4_pool"),
        ("block5", "block5_pool"),
    ], finalGroup: "fc")

    /// (block, filters, convolutions)
    static let blocks = [(1, 64, 2), (2, 128, 2), (3, 256, 4), (4, 512, 4), (5, 512, 4)]

    static func build(_ options: ModelOptions) throws -> Model {
        let g = try GraphBuilder(inputShape: options.inputShape)
        var x = g.input
        for (block, filters, convolutions) in blocks {
            for k in 1...convolutions {
                x = try g.add(Conv2D("block\(block)_conv\(k)", filters: filters, kernel: (3, 3),
                                     padding: .same, activation: .relu), x)
            }
            x = try g.add(Pooling2D("block\(block)_pool", .max, pool: (2, 2)), x)
        }
        let output: NodeRef
        if options.includeTop {
            x = try g.add(Flatten("flatten"), x)
            x = try g.add(Dense("fc1", units: 4096, activation: .relu), x)
            x = try g.add(Dense("fc2", units: 4096, activation: .relu), x)
            output = try g.add(Dense("predictions", units: options.classes, activation: options.classifierActivation), x)
        } else {
            output = try attachTop(g, x, options, avgPoolName: "global_average_pooling2d", maxPoolName: "global_max_pooling2d")
        }
        return g.model(name: "vgg19", output: output)
    }
}
