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

/// Bounds every decoder checks before it allocates pixels or decodes image data, so that one hostile
/// file (a few bytes declaring a gigapixel, a JPEG with thousands of scans) costs at most a few hundred
/// megabytes and seconds, and ends as an error naming the file.
public enum ImageLimits {
    /// 64 megapixels (8000×8000, 192 MB as RGB): more than cameras write and far more than a model's input.
    public static let maxPixels = 64_000_000
    /// Encoders write about 10 scans per progressive JPEG; each one is a pass over the whole image, and
    /// 1000 of them took 5 s on a 16-megapixel image here (libjpeg-turbo sets no limit of its own).
    public static let maxScans = 100
    /// Files are read whole; no image within maxPixels needs more (a 32-bit BMP of 64 megapixels is 256 MB).
    public static let maxFileBytes = 300_000_000

    static var c: ci_limits { ci_limits(max_pixels: UInt64(maxPixels), max_scans: Int32(maxScans)) }
}

/// Decodes image files by their content (not their extension) to RGB: JPEG (EXIF orientation
/// honoured; grayscale and CMYK too), PNG (8/16-bit, palette, grayscale, alpha), BMP, GIF (first frame),
/// WebP (lossy, lossless, alpha), all within ImageLimits.
public enum ImageDecoder {
    public static let extensions: Set<String> = ["jpg", "jpeg", "png", "bmp", "gif", "webp"]

    public static func decode(file path: String) throws -> RGBImage {
        try decode(read(file: path), name: path)
    }

    /// A file's bytes, read whole only once its first bytes show a supported image format and its size
    /// is within ImageLimits.maxFileBytes. FIFOs, devices and folders are refused without reading them.
    public static func read(file path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw DataError("image \(path): \(unreadableReason(path))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw DataError("image \(path): \(status.st_mode & S_IFMT == S_IFDIR ? "a folder where an image was expected" : "not a regular file (a FIFO, device or socket)")")
        }
        let size = Int(status.st_size)
        _ = try supportedFormat(of: readBytes(descriptor, count: min(size, 16), path: path), name: path)
        guard size <= ImageLimits.maxFileBytes else {
            throw DataError("image \(path) is \(size / 1_000_000) MB, more than the \(ImageLimits.maxFileBytes / 1_000_000) MB read for one image; shrink or recompress it")
        }
        return try readBytes(descriptor, count: size, path: path)
    }

    /// `count` bytes from the start of an open file; fewer if it shrank meanwhile.
    private static func readBytes(_ descriptor: Int32, count: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + filled, count - filled, off_t(filled)) }
            guard n >= 0 else { throw DataError("image \(path): cannot be read (\(String(cString: strerror(errno))))") }
            if n == 0 { break }
            filled += n
        }
        return Array(bytes.prefix(filled))
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

    private enum SupportedFormat { case jpeg, png, bmp, gif, webp }

    /// The decoder for what `bytes` announce, or the reason there is none.
    private static func supportedFormat(of bytes: [UInt8], name: String) throws -> SupportedFormat {
        switch format(of: bytes) {
        case "JPEG": return .jpeg
        case "PNG": return .png
        case "BMP": return .bmp
        case "GIF": return .gif
        case "WebP": return .webp
        case "empty": throw DataError("image \(name) is an empty file")
        case "unknown": throw DataError("\(name) is not an image (its content is no JPEG, PNG, BMP, GIF or WebP, whatever its extension)")
        case let other: throw DataError("image \(name) is \(other), which is not supported; convert it to PNG or JPEG")
        }
    }

    public static func decode(_ bytes: [UInt8], name: String) throws -> RGBImage {
        switch try supportedFormat(of: bytes, name: name) {
        case .jpeg: return ImageFormats.orient(try decodeC(bytes, name: name, ci_decode_jpeg), ImageFormats.jpegOrientation(bytes))
        case .png: return try decodeC(bytes, name: name, ci_decode_png)
        case .bmp: return try ImageFormats.decodeBMP(bytes, name: name)
        case .gif: return try decodeC(bytes, name: name, ci_decode_gif)
        case .webp: return try decodeC(bytes, name: name, ci_decode_webp)
        }
    }

    private static func decodeC(_ bytes: [UInt8], name: String,
                                _ decoder: (UnsafePointer<UInt8>?, Int, ci_limits, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?,
                                            UnsafeMutablePointer<CChar>?, Int) -> UnsafeMutablePointer<UInt8>?) throws -> RGBImage {
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        guard let pixels = decoder(bytes, bytes.count, ImageLimits.c, &width, &height, &message, message.count) else {
            throw DataError("image \(name): \(message.nulTerminatedText)")
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
        // Rows are resampled straight from the bytes: a float copy of a 64-megapixel image would be 768 MB.
        let horizontal = RGBImage.resample(pixels, lines: height, from: width, to: outWidth, stride: 3, lineStride: width * 3)
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

    private static func resample(_ x: [UInt8], lines: Int, from n: Int, to m: Int, stride: Int, lineStride: Int) -> [Float] {
        let plan = taps(from: n, to: m)
        var out = [Float](repeating: 0, count: lines * m * 3)
        for line in 0..<lines {
            for (j, (first, weights)) in plan.enumerated() {
                for c in 0..<3 {
                    var sum: Float = 0
                    for (k, w) in weights.enumerated() { sum += w * Float(x[line * lineStride + (first + k) * stride + c]) }
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
    let batch = readableImageBatch(paths, height: height, width: width, preprocessing: preprocessing, cropToSquare: cropToSquare)
    if let bad = batch.skipped.first { throw DataError("\(bad.path): \(bad.reason)") }
    return batch.images
}

/// The files that can be read as one preprocessed NHWC batch, and those that cannot, with why.
public func readableImageBatch(_ paths: [String], height: Int, width: Int, preprocessing: Preprocessing,
                               cropToSquare: Bool = false) -> (images: Tensor, read: [String], skipped: [ImageFolder.Skipped]) {
    var data: [Float] = []
    data.reserveCapacity(paths.count * height * width * 3)
    var (read, skipped): ([String], [ImageFolder.Skipped]) = ([], [])
    for path in paths {
        do {
            let image = try ImageDecoder.decode(file: path)
            data += (cropToSquare ? image.centerSquare() : image).resizedPixels(width: width, height: height)
            read.append(path)
        } catch {
            skipped.append(ImageFolder.Skipped(path: path, reason: "\(error)"))
        }
    }
    var batch = Tensor(shape: [read.count, height, width, 3], data: data)
    preprocessing.apply(to: &batch)
    return (batch, read, skipped)
}

/// The image files named by `arguments`: files as given, folders by their image files in name order.
public func imageFiles(_ arguments: [String]) throws -> [String] {
    var files: [String] = []
    for argument in arguments {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory) else {
            throw DataError("\(argument) does not exist; pass image files or folders of images")
        }
        if isDirectory.boolValue {
            // Sub-folders too (a test set in class folders), each file named by its path below the folder.
            let enumerator = FileManager.default.enumerator(at: URL(fileURLWithPath: argument), includingPropertiesForKeys: nil,
                                                            options: [.skipsHiddenFiles])
            let root = URL(fileURLWithPath: argument).standardizedFileURL.path
            let names = (enumerator?.allObjects as? [URL] ?? []).map { String($0.standardizedFileURL.path.dropFirst(root.count + 1)) }
            files += names.filter { ImageDecoder.extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
                .map { (argument as NSString).appendingPathComponent($0) }
        } else {
            files.append(argument)
        }
    }
    guard !files.isEmpty else { throw DataError("no .jpg, .jpeg, .png, .bmp, .gif or .webp images in \(arguments.joined(separator: ", "))") }
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
            throw DataError(message.nulTerminatedText)
        }
        defer { free(bytes) }
        return Data(bytes: bytes, count: size)
    }
}

extension [CChar] {
    /// The text of a NUL-terminated C buffer (an error message filled in by the C decoders).
    var nulTerminatedText: String { String(decoding: prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
}
