import Core
import Foundation

/// How an architecture expects its RGB 0–255 input, as `keras.applications` `preprocess_input`.
public enum Preprocessing: String, Codable, Sendable {
    /// RGB → BGR, then subtract the ImageNet channel means; no scaling.
    case caffe
    /// Scale to [-1, 1].
    case tf

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
        }
    }
}

/// The zoo's data about each model (`zoo/models.json`): published weights, sizes, preprocessing, groups.
public struct Manifest: Decodable, Sendable {
    public struct WeightFile: Decodable, Sendable {
        public let path: String
        public let md5: String
        public var fileName: String { (path as NSString).lastPathComponent }

        public init(path: String, md5: String) {
            self.path = path
            self.md5 = md5
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
                throw ModelError("\(name) has no published weights; pass --weights none or a weights file")
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

    public func url(of file: WeightFile) -> URL { URL(string: weightsBase + file.path)! }

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
