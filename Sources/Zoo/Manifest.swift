import Core
import Foundation

/// How an architecture expects its RGB 0–255 input, as `keras.applications` `preprocess_input`.
public enum Preprocessing: String, Codable, Sendable {
    /// RGB → BGR, then subtract the ImageNet channel means; no scaling.
    case caffe
    /// Scale to [-1, 1].
    case tf
    /// Scale to [0, 1], then subtract the ImageNet mean and divide by its standard deviation, RGB:
    /// what torchvision's weights expect.
    case torch

    /// Applies the mode in place to NHWC RGB values in 0…255.
    public func apply(to x: inout Tensor) {
        switch self {
        case .caffe:
            let mean: [Float] = [103.939, 116.779, 123.68]
            for p in stride(from: 0, to: x.count, by: 3) {
                let (r, b) = (x.data[p], x.data[p + 2])
                x.data[p] = b - mean[0]
                x.data[p + 1] -= mean[1]
                x.data[p + 2] = r - mean[2]
            }
        case .tf:
            for i in x.data.indices { x.data[i] = x.data[i] / 127.5 - 1 }
        case .torch:
            let mean: [Float] = [0.485, 0.456, 0.406]
            let std: [Float] = [0.229, 0.224, 0.225]
            for i in x.data.indices { x.data[i] = (x.data[i] / 255 - mean[i % 3]) / std[i % 3] }
        }
    }
}

/// The zoo's data about each model (`zoo/models.json`): published weights, sizes, preprocessing, groups.
public struct Manifest: Decodable, Sendable {
    /// How a published file is checked: Keras publishes MD5s; PyTorch names its files by the first hex
    /// digits of their SHA-256.
    public enum Digest: Sendable, Equatable, CustomStringConvertible {
        case md5(String)
        case sha256Prefix(String)

        public var kind: String {
            switch self {
            case .md5: "md5"
            case .sha256Prefix: "sha256"
            }
        }

        public var description: String {
            switch self {
            case .md5(let hex): "md5 \(hex)"
            case .sha256Prefix(let hex): "sha256 \(hex)…"
            }
        }
    }

    public struct WeightFile: Decodable, Sendable {
        /// Below the manifest's `weights_base`, or below `base` for a file published elsewhere.
        public let path: String
        public let base: String?
        public let digest: Digest
        /// The converter family (`torchvision`) of a file in another framework's layout, which is converted
        /// into Keras' layout when fetched; nil for Keras' own files.
        public let convertFrom: String?
        public var fileName: String { (path as NSString).lastPathComponent }

        public init(path: String, md5: String) {
            self.init(path: path, digest: .md5(md5))
        }

        public init(path: String, digest: Digest, base: String? = nil, convertFrom: String? = nil) {
            self.path = path
            self.digest = digest
            self.base = base
            self.convertFrom = convertFrom
        }

        private enum CodingKeys: String, CodingKey { case path, base, md5, sha256Prefix, convertFrom }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            path = try c.decode(String.self, forKey: .path)
            base = try c.decodeIfPresent(String.self, forKey: .base)
            convertFrom = try c.decodeIfPresent(String.self, forKey: .convertFrom)
            if let md5 = try c.decodeIfPresent(String.self, forKey: .md5) {
                digest = .md5(md5)
            } else {
                let prefix = try c.decode(String.self, forKey: .sha256Prefix)
                // Fewer digits would let almost any file pass.
                guard prefix.count >= 8, prefix.allSatisfy(\.isHexDigit) else {
                    throw DecodingError.dataCorruptedError(forKey: .sha256Prefix, in: c, debugDescription: "at least 8 hex digits")
                }
                digest = .sha256Prefix(prefix)
            }
        }
    }

    public struct Model: Decodable, Sendable {
        public let name: String
        public let kerasClass: String
        public let defaultInputSize: Int
        public let minimumInputSize: Int
        public let preprocessing: Preprocessing
        public let featureWidth: Int
        public let layerGroups: [String]
        public let weights: [String: WeightFile]

        public func weightFile(includeTop: Bool) throws -> WeightFile {
            guard let file = weights[includeTop ? "top" : "notop"] else {
                throw ConfigurationError.noPublishedWeights(model: name)
            }
            return file
        }
    }

    public let weightsBase: String
    public let models: [Model]

    public func model(_ architecture: Architecture) throws -> Model {
        guard let model = models.first(where: { $0.name == architecture.rawValue }) else {
            throw ModelError("the zoo manifest has no entry for \(architecture.rawValue)")
        }
        return model
    }


    /// The manifest compiled into the package from `zoo/models.json`.
    public static let shared: Manifest = {
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(Manifest.self, from: Data(PackageResources.models_json))
        } catch {
            fatalError("the zoo manifest (zoo/models.json) is invalid: \(error)")
        }
    }()
}
