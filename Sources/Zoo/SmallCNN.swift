import Core

/// A small convolutional network for baselines (the classic tutorial model): two blocks of 3×3
/// convolution → BatchNorm → ReLU → 2×2 max-pooling. Not part of keras.applications and without
/// published weights; with a new head (pooling, dropout, dense) it is the "train from scratch" baseline.
public enum SmallCNN {
    public static let groups = LayerGroups([("block1", "block1_pool"), ("block2", "block2_pool")], finalGroup: "top")

    static func build(_ options: ModelOptions) throws -> Model {
        let g = try GraphBuilder(inputShape: options.inputShape)
        var x = g.input
        for (block, filters) in [(1, 32), (2, 64)] {
            x = try g.add(Conv2D("block\(block)_conv", filters: filters, kernel: (3, 3), padding: .same, useBias: false), x)
            x = try g.add(BatchNormalization("block\(block)_bn"), x)
            x = try g.add(Activation("block\(block)_relu", .relu), x)
            x = try g.add(Pooling2D("block\(block)_pool", .max, pool: (2, 2)), x)
        }
        let top = try attachTop(g, x, options, avgPoolName: "global_average_pooling2d", maxPoolName: "global_max_pooling2d")
        return g.model(name: "small_cnn", output: top)
    }
}
