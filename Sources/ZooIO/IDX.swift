import CGzip
import Core
import Foundation
import Zoo

/// The IDX format of MNIST and Fashion-MNIST (unsigned bytes with big-endian dimensions), gzipped or not.
public enum IDX {
    public struct Array: Sendable {
        public let shape: [Int]
        public let bytes: [UInt8]
    }

    public static func read(_ path: String) throws -> Array {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw ModelError("cannot read \(path): it does not exist or is not readable")
        }
        // zlib reads gzip and plain files alike.
        guard let file = gzopen(path, "rb") else { throw ModelError("cannot open \(path)") }
        defer { gzclose(file) }
        var content = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = gzread(file, &chunk, UInt32(chunk.count))
            if n < 0 { throw ModelError("\(path) is a damaged gzip file") }
            if n == 0 { break }
            content += chunk[0..<Int(n)]
        }
        guard content.count >= 4, content[0] == 0, content[1] == 0 else {
            throw ModelError("\(path) is not an IDX file (MNIST layout)")
        }
        guard content[2] == 0x08 else { throw ModelError("\(path) holds IDX type \(content[2]); only unsigned bytes (0x08) are supported") }
        let rank = Int(content[3])
        let header = 4 + 4 * rank
        guard content.count >= header else { throw ModelError("\(path) is a truncated IDX file") }
        let shape = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(content[4 + 4 * d + $1]) } }
        guard content.count - header == shape.reduce(1, *) else {
            throw ModelError("\(path) should hold \(shape.reduce(1, *)) values after its header but has \(content.count - header); the file is truncated")
        }
        return Array(shape: shape, bytes: Swift.Array(content[header...]))
    }
}

/// An IDX image file and its label file (MNIST / Fashion-MNIST layout), held as bytes.
public struct IDXImages: Sendable {
    public let pixels: IDX.Array
    public let labels: [Int]

    public init(images: String, labels: String) throws {
        pixels = try IDX.read(images)
        let labelArray = try IDX.read(labels)
        guard pixels.shape.count == 3 else { throw ModelError("\(images) holds shape \(pixels.shape); expected images (N, height, width)") }
        guard labelArray.shape == [pixels.shape[0]] else {
            throw ModelError("\(labels) holds \(labelArray.shape) labels for \(pixels.shape[0]) images in \(images)")
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
