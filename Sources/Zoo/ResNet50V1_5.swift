import Core

/// ResNet50 v1.5 as torchvision builds it (and timm's `resnet50.*`): the stride on the 3×3 convolution,
/// padded by one pixel on every side as PyTorch does (Keras' 'same' would pad one side only), no
/// convolution biases, BatchNorm ε 1e-5; Keras layer names, so its files load in Keras.
public enum ResNet50V1_5 {
    /// The same stages as v1, ending at the same layers.
    public static let groups = ResNet50.groups

    static let variant = ResNetVariant(modelName: "resnet50_v1_5", epsilon: 1e-5, convolutionBias: false,
                                       strideOnThreeByThree: true)

    static func build(_ options: ModelOptions) throws -> Model { try variant.build(options) }
}
