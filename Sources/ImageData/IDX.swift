import Core
import Foundation
import KerasFiles
import Zoo

/// The IDX format of MNIST and Fashion-MNIST (unsigned bytes with big-endian dimensions), gzipped or not.
public enum IDX {
    public struct Array: Sendable {
        public let shape: [Int]
        public let bytes: [UInt8]
    }

    public static func read(_ path: String) throws -> Array {
        guard FileManager.default.isReadableFile(atPath: path),
              let fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue else {
            throw DataError("cannot read \(path): it does not exist or is not readable")
        }
        // zlib reads gzip and plain files alike.
        let file = try GzipFile(path)
        let magic = try file.read(4)
        guard magic.count == 4, magic[0] == 0, magic[1] == 0 else {
            throw DataError("\(path) is not an IDX file (MNIST layout)")
        }
        guard magic[2] == 0x08 else { throw DataError("\(path) holds IDX type \(magic[2]); only unsigned bytes (0x08) are supported") }
        let rank = Int(magic[3])
        guard (1...4).contains(rank) else {
            throw DataError("\(path) declares \(rank) dimensions; IDX files hold images (3 dimensions) or labels (1), so the file is damaged")
        }
        let dimensions = try file.read(4 * rank)
        guard dimensions.count == 4 * rank else { throw DataError("\(path) is a truncated IDX file") }
        let shape = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(dimensions[4 * d + $1]) } }
        guard shape.allSatisfy({ $0 > 0 }) else {
            throw DataError("\(path) declares shape \(shape); an IDX file of images or labels needs at least one of each dimension")
        }
        let count = try checkedProduct(shape + [1], name: path, what: "bytes")
        // A plain file must hold exactly what its header declares; a gzipped one may not inflate past a bound.
        if file.isPlain {
            guard fileSize - 4 - 4 * rank == count else {
                throw DataError("\(path) should hold \(count) values after its header but has \(fileSize - 4 - 4 * rank); the file is truncated or damaged")
            }
        } else {
            try InflationBound.check(declared: count, compressed: fileSize, name: path)
        }
        let values = try file.read(count)
        guard values.count == count else {
            throw DataError("\(path) should hold \(count) values after its header but has \(values.count); the file is truncated")
        }
        guard try file.read(1).isEmpty else {
            throw DataError("\(path) holds more values than the \(count) its header declares; the file is damaged")
        }
        return Array(shape: shape, bytes: values)
    }
}

/// An IDX image file and its label file (MNIST / Fashion-MNIST layout), held as bytes.
public struct IDXImages: Sendable {
    public let pixels: IDX.Array
    public let labels: [Int]

    public init(images: String, labels: String) throws {
        pixels = try IDX.read(images)
        let labelArray = try IDX.read(labels)
        guard pixels.shape.count == 3 else {
            throw DataError("\(images) holds an array of shape \(pixels.shape.map(String.init).joined(separator: "x")); expected images (N, height, width)")
        }
        guard labelArray.shape == [pixels.shape[0]] else {
            let held = labelArray.shape.count == 1 ? "\(labelArray.shape[0]) labels" : "an array of shape \(labelArray.shape.map(String.init).joined(separator: "x"))"
            throw DataError("\(labels) holds \(held) for the \(pixels.shape[0]) images in \(images); pass the label file that goes with them")
        }
        self.labels = labelArray.bytes.map(Int.init)
    }

    public var count: Int { labels.count }

    /// Indices of images whose label is in `classes`, the first `perClass` of each when given.
    public func indices(of classes: [Int], perClass: Int? = nil) -> [Int] {
        var taken: [Int: Int] = [:]
        return labels.indices.filter { i in
            guard classes.contains(labels[i]) else { return false }
            taken[labels[i], default: 0] += 1
            return perClass.map { taken[labels[i]]! <= $0 } ?? true
        }
    }

    /// The images at `indices` as three-channel RGB, resized to `size`×`size` and preprocessed.
    public func batch(_ indices: [Int], size: Int, preprocessing: Preprocessing) -> Tensor {
        let (h, w) = (pixels.shape[1], pixels.shape[2])
        var data: [Float] = []
        data.reserveCapacity(indices.count * size * size * 3)
        for i in indices {
            let gray = pixels.bytes[(i * h * w)..<((i + 1) * h * w)]
            let rgb = RGBImage(width: w, height: h, pixels: gray.flatMap { [$0, $0, $0] })
            data += rgb.resizedPixels(width: size, height: size)
        }
        var x = Tensor(shape: [indices.count, size, size, 3], data: data)
        preprocessing.apply(to: &x)
        return x
    }
}
