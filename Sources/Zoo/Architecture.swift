import Core

/// The four `keras.applications` models this zoo builds, and torchvision's ResNet50 in Keras layers.
public enum Architecture: String, CaseIterable, Codable, Sendable {
    case resnet50
    /// torchvision's ResNet50 (v1.5), for PyTorch's weights.
    case resnet50V1_5 = "resnet50_v1_5"
    case vgg19
    case inceptionV3 = "inception_v3"
    case xception
    /// A small CNN for baselines; no published weights.
    case smallCNN = "small_cnn"

    /// The name Keras gives the functional model.
    public var kerasModelName: String { rawValue }

    /// Builds the model as `keras.applications` does, with fresh (untrained) weights.
    public func build(_ options: ModelOptions) throws -> Model {
        let spec = try Manifest.shared.model(self)
        guard options.inputHeight >= spec.minimumInputSize, options.inputWidth >= spec.minimumInputSize else {
            throw ConfigurationError.inputSize(model: rawValue, minimum: spec.minimumInputSize, height: options.inputHeight, width: options.inputWidth)
        }
        guard options.inputHeight <= ModelOptions.maximumInputSize, options.inputWidth <= ModelOptions.maximumInputSize else {
            throw ModelError("\(rawValue) at \(options.inputHeight)x\(options.inputWidth) pixels is beyond the largest input size of \(ModelOptions.maximumInputSize); use smaller images")
        }
        guard options.classes > 0 else { throw ConfigurationError.classes(options.classes) }
        switch self {
        case .resnet50: return try ResNet50.build(options)
        case .resnet50V1_5: return try ResNet50V1_5.build(options)
        case .vgg19: return try VGG19.build(options)
        case .inceptionV3: return try InceptionV3.build(options)
        case .xception: return try Xception.build(options)
        case .smallCNN: return try SmallCNN.build(options)
        }
    }

    /// The units users freeze and unfreeze, in network order.
    public var layerGroups: LayerGroups {
        switch self {
        case .resnet50: return ResNet50.groups
        case .resnet50V1_5: return ResNet50V1_5.groups
        case .vgg19: return VGG19.groups
        case .inceptionV3: return InceptionV3.groups
        case .xception: return Xception.groups
        case .smallCNN: return SmallCNN.groups
        }
    }
}

/// What to build: `keras.applications`' `include_top`, `pooling`, `classes` and input size.
public struct ModelOptions: Sendable {
    public enum Pooling: String, Sendable, CaseIterable { case none, avg, max }

    public var includeTop: Bool
    public var pooling: Pooling
    public var classes: Int
    public var classifierActivation: ActivationKind
    public var inputHeight: Int
    public var inputWidth: Int

    public init(includeTop: Bool = false, pooling: Pooling = .none, classes: Int = 1000,
                classifierActivation: ActivationKind = .softmax, inputHeight: Int, inputWidth: Int) {
        self.includeTop = includeTop
        self.pooling = pooling
        self.classes = classes
        self.classifierActivation = classifierActivation
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
    }

    public var inputShape: [Int] { [inputHeight, inputWidth, 3] }

    /// Four times the largest input any of these models was trained on: one 4096x4096 image already
    /// takes gigabytes of activations.
    public static let maximumInputSize = 4096
}

/// Keras' automatic layer names (`conv2d`, `conv2d_1`, …), counted per class in creation order
/// as in a fresh Keras 3 session; explicitly named layers do not count.
final class AutoNames {
    private var counts: [String: Int] = [:]

    func next(_ base: String) -> String {
        let k = counts[base, default: 0]
        counts[base] = k + 1
        return k == 0 ? base : "\(base)_\(k)"
    }
}

/// The classifier or pooling `keras.applications` puts after the feature extractor.
func attachTop(_ g: GraphBuilder, _ features: NodeRef, _ options: ModelOptions,
               avgPoolName: String, maxPoolName: String) throws -> NodeRef {
    if options.includeTop {
        let pooled = try g.add(GlobalPooling2D("avg_pool", .average), features)
        return try g.add(Dense("predictions", units: options.classes, activation: options.classifierActivation), pooled)
    }
    switch options.pooling {
    case .none: return features
    case .avg: return try g.add(GlobalPooling2D(avgPoolName, .average), features)
    case .max: return try g.add(GlobalPooling2D(maxPoolName, .max), features)
    }
}
