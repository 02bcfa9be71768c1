import CImages
import Core
import Foundation
import Zoo

/// An 8-bit RGB image, rows top to bottom.
public struct RGBImage: Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3)
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// Decodes image files by their content (not their extension) to RGB: JPEG (EXIF orientation
/// honoured; grayscale and CMYK too), PNG (8/16-bit, palette, grayscale, alpha), BMP, GIF (first frame).
public enum ImageDecoder {
    public static let extensions: Set<String> = ["jpg", "jpeg", "png", "bmp", "gif"]

    public static func decode(file path: String) throws -> RGBImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError("image \(path): \(unreadableReason(path))")
        }
        return try decode([UInt8](data), name: path)
    }

    /// The format a file's first bytes announce.
    public static func format(of bytes: [UInt8]) -> String {
        if bytes.isEmpty { return "empty" }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return "JPEG" }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "PNG" }
        if bytes.starts(with: Array("BM".utf8)) { return "BMP" }
        if bytes.starts(with: Array("GIF8".utf8)) { return "GIF" }
        if bytes.count >= 12, bytes.starts(with: Array("RIFF".utf8)), Array(bytes[8..<12]) == Array("WEBP".utf8) { return "WebP" }
        if bytes.starts(with: [0x49, 0x49, 0x2A, 0x00]) || bytes.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { return "TIFF" }
        return "unknown"
    }

    public static func decode(_ bytes: [UInt8], name: String) throws -> RGBImage {
        switch format(of: bytes) {
        case "empty":
            throw ModelError("image \(name) is an empty file")
        case "JPEG":
            return ImageFormats.orient(try decodeC(bytes, name: name, ci_decode_jpeg), ImageFormats.jpegOrientation(bytes))
        case "PNG":
            return try decodeC(bytes, name: name, ci_decode_png)
        case "BMP":
            return try ImageFormats.decodeBMP(bytes, name: name)
        case "GIF":
            return try ImageFormats.decodeGIF(bytes, name: name)
        case "unknown":
            throw ModelError("\(name) is not an image (its content is no JPEG, PNG, BMP or GIF, whatever its extension)")
        case let other:
            throw ModelError("image \(name) is \(other), which is not supported; convert it to PNG or JPEG")
        }
    }

    private static func decodeC(_ bytes: [UInt8], name: String,
                                _ decoder: (UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?,
                                            UnsafeMutablePointer<CChar>?, Int) -> UnsafeMutablePointer<UInt8>?) throws -> RGBImage {
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        guard let pixels = decoder(bytes, bytes.count, &width, &height, &message, message.count) else {
            throw ModelError("image \(name): \(message.nulTerminatedText)")
        }
        defer { free(pixels) }
        let count = Int(width) * Int(height) * 3
        return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }
}

extension RGBImage {
    /// RGB values 0…255 as floats at `width`×`height`: bilinear, antialiased when shrinking
    /// (the filter widens with the scale so every source pixel contributes).
    public func resizedPixels(width outWidth: Int, height outHeight: Int) -> [Float] {
        let source = pixels.map(Float.init)
        let horizontal = RGBImage.resample(source, lines: height, from: width, to: outWidth, stride: 3, lineStride: width * 3)
        // Now outWidth × height; resample columns.
        return RGBImage.resampleColumns(horizontal, columns: outWidth, from: height, to: outHeight)
    }

    /// Triangle-filter taps for one axis: for each output index, (first source index, weights).
    static func taps(from n: Int, to m: Int) -> [(Int, [Float])] {
        let scale = Double(n) / Double(m)
        let support = max(1.0, scale)
        return (0..<m).map { i in
            let center = (Double(i) + 0.5) * scale - 0.5
            let first = max(0, Int((center - support).rounded(.up)))
            let last = min(n - 1, Int((center + support).rounded(.down)))
            var weights = (first...max(first, last)).map { Float(max(0, 1 - abs(Double($0) - center) / support)) }
            let total = weights.reduce(0, +)
            if total > 0 { weights = weights.map { $0 / total } } else { weights = [1] }
            return (first, weights)
        }
    }

    private static func resample(_ x: [Float], lines: Int, from n: Int, to m: Int, stride: Int, lineStride: Int) -> [Float] {
        let plan = taps(from: n, to: m)
        var out = [Float](repeating: 0, count: lines * m * 3)
        for line in 0..<lines {
            for (j, (first, weights)) in plan.enumerated() {
                for c in 0..<3 {
                    var sum: Float = 0
                    for (k, w) in weights.enumerated() { sum += w * x[line * lineStride + (first + k) * stride + c] }
                    out[(line * m + j) * 3 + c] = sum
                }
            }
        }
        return out
    }

    private static func resampleColumns(_ x: [Float], columns: Int, from n: Int, to m: Int) -> [Float] {
        let plan = taps(from: n, to: m)
        var out = [Float](repeating: 0, count: m * columns * 3)
        let row = columns * 3
        for (i, (first, weights)) in plan.enumerated() {
            for (k, w) in weights.enumerated() {
                let source = (first + k) * row
                for p in 0..<row { out[i * row + p] += w * x[source + p] }
            }
        }
        return out
    }
}

/// Images as one preprocessed NHWC batch at the model's input size.
public func imageBatch(_ paths: [String], height: Int, width: Int, preprocessing: Preprocessing,
                       cropToSquare: Bool = false) throws -> Tensor {
    var data: [Float] = []
    data.reserveCapacity(paths.count * height * width * 3)
    for path in paths {
        let image = try ImageDecoder.decode(file: path)
        data += (cropToSquare ? image.centerSquare() : image).resizedPixels(width: width, height: height)
    }
    var batch = Tensor(shape: [paths.count, height, width, 3], data: data)
    preprocessing.apply(to: &batch)
    return batch
}

/// The image files named by `arguments`: files as given, folders by their image files in name order.
public func imageFiles(_ arguments: [String]) throws -> [String] {
    var files: [String] = []
    for argument in arguments {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
            throw ModelError("\(argument) does not exist; pass image files or folders of images")
        }
        if isDirectory.boolValue {
            let names = try FileManager.default.contentsOfDirectory(atPath: argument).sorted()
            files += names.filter { ImageDecoder.extensions.contains(($0 as NSString).pathExtension.lowercased()) }
                .map { (argument as NSString).appendingPathComponent($0) }
        } else {
            files.append(argument)
        }
    }
    guard !files.isEmpty else { throw ModelError("no .jpg, .jpeg, .png, .bmp or .gif images in \(arguments.joined(separator: ", "))") }
    return files
}

extension RGBImage {
    /// The largest centred square (the crop that keeps a square model input's aspect ratio).
    public func centerSquare() -> RGBImage {
        let side = min(width, height)
        let (left, top) = ((width - side) / 2, (height - side) / 2)
        var out = [UInt8]()
        out.reserveCapacity(side * side * 3)
        for row in top..<(top + side) { out += pixels[((row * width + left) * 3)..<((row * width + left + side) * 3)] }
        return RGBImage(width: side, height: side, pixels: out)
    }

    /// The image as PNG bytes.
    public func pngData() throws -> Data {
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        guard let bytes = ci_encode_png(pixels, Int32(width), Int32(height), &size, &message, message.count) else {
            throw ModelError(message.nulTerminatedText)
        }
        defer { free(bytes) }
        return Data(bytes: bytes, count: size)
    }
}

extension [CChar] {
    /// The text of a NUL-terminated C buffer (an error message filled in by the C decoders).
    var nulTerminatedText: String { String(decoding: prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
}
