import Core
import Foundation

/// BMP and GIF (first frame) decoding, and the EXIF orientation of JPEG files.
enum ImageFormats {
    private static func le16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
    private static func le32(_ b: [UInt8], _ i: Int) -> Int { le16(b, i) | le16(b, i + 2) << 16 }

    /// Uncompressed 8-bit (palette), 24-bit and 32-bit BMP files, bottom-up or top-down.
    static func decodeBMP(_ b: [UInt8], name: String) throws -> RGBImage {
        guard b.count >= 54 else { throw ModelError("image \(name): truncated BMP header") }
        let offset = le32(b, 10), headerSize = le32(b, 14)
        let width = le32(b, 18)
        var height = Int(Int32(bitPattern: UInt32(le32(b, 22))))
        let bits = le16(b, 28), compression = le32(b, 30)
        let topDown = height < 0
        height = abs(height)
        guard width > 0, height > 0, width < 1 << 15, height < 1 << 15 else { throw ModelError("image \(name): BMP has impossible size \(width)x\(height)") }
        guard [8, 24, 32].contains(bits), compression == 0 || (compression == 3 && bits == 32) else {
            throw ModelError("image \(name): unsupported BMP (\(bits) bits, compression \(compression)); save it as PNG or JPEG")
        }
        var palette: [[UInt8]] = []
        if bits == 8 {
            let colours = le32(b, 46) == 0 ? 256 : le32(b, 46)
            let start = 14 + headerSize
            guard b.count >= start + 4 * colours else { throw ModelError("image \(name): truncated BMP palette") }
            palette = (0..<colours).map { [b[start + 4 * $0 + 2], b[start + 4 * $0 + 1], b[start + 4 * $0]] }
        }
        let stride = (bits * width + 31) / 32 * 4
        guard b.count >= offset + stride * height else { throw ModelError("image \(name): truncated BMP pixel data") }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for row in 0..<height {
            let source = offset + (topDown ? row : height - 1 - row) * stride
            for col in 0..<width {
                let rgb: [UInt8]
                switch bits {
                case 8:
                    let index = Int(b[source + col])
                    guard index < palette.count else { throw ModelError("image \(name): BMP colour index out of its palette") }
                    rgb = palette[index]
                default:
                    let p = source + col * bits / 8
                    rgb = [b[p + 2], b[p + 1], b[p]]
                }
                pixels.replaceSubrange(((row * width + col) * 3)..<((row * width + col) * 3 + 3), with: rgb)
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// The first frame of a GIF, on its logical screen (background black).
    static func decodeGIF(_ b: [UInt8], name: String) throws -> RGBImage {
        func fail(_ why: String) -> ModelError { ModelError("image \(name): \(why)") }
        guard b.count >= 13 else { throw fail("truncated GIF header") }
        let (width, height) = (le16(b, 6), le16(b, 8))
        guard width > 0, height > 0 else { throw fail("GIF has an empty screen") }
        var position = 13
        func colourTable(_ flags: UInt8) throws -> [[UInt8]] {
            guard flags & 0x80 != 0 else { return [] }
            let count = 1 << (Int(flags & 7) + 1)
            guard b.count >= position + 3 * count else { throw fail("truncated GIF colour table") }
            defer { position += 3 * count }
            return (0..<count).map { Array(b[(position + 3 * $0)..<(position + 3 * $0 + 3)]) }
        }
        let global = try colourTable(b[10])
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        while position < b.count {
            let block = b[position]
            position += 1
            if block == 0x21 {  // extension: label, then sub-blocks
                position += 1
                while position < b.count, b[position] != 0 { position += Int(b[position]) + 1 }
                position += 1
            } else if block == 0x2C {
                guard b.count >= position + 9 else { throw fail("truncated GIF image descriptor") }
                let (left, top, w, h) = (le16(b, position), le16(b, position + 2), le16(b, position + 4), le16(b, position + 6))
                let flags = b[position + 8]
                position += 9
                let local = try colourTable(flags)
                let table = local.isEmpty ? global : local
                guard !table.isEmpty else { throw fail("GIF frame has no colour table") }
                guard position < b.count else { throw fail("truncated GIF image data") }
                let minimum = Int(b[position])
                position += 1
                var data: [UInt8] = []
                while position < b.count, b[position] != 0 {
                    let size = Int(b[position])
                    guard position + 1 + size <= b.count else { throw fail("truncated GIF image data") }
                    data += b[(position + 1)..<(position + 1 + size)]
                    position += size + 1
                }
                let indices = try lzw(data, minimumCodeSize: minimum, count: w * h, fail: fail)
                let rows = flags & 0x40 != 0 ? interlacedRows(h) : Array(0..<h)
                for (i, row) in rows.enumerated() {
                    for col in 0..<w {
                        let (x, y) = (left + col, top + row)
                        guard x < width, y < height, i * w + col < indices.count else { continue }
                        let colour = table[min(Int(indices[i * w + col]), table.count - 1)]
                        pixels.replaceSubrange(((y * width + x) * 3)..<((y * width + x) * 3 + 3), with: colour)
                    }
                }
                return RGBImage(width: width, height: height, pixels: pixels)
            } else if block == 0x3B {
                break
            } else {
                throw fail("corrupt GIF (unknown block 0x\(String(block, radix: 16)))")
            }
        }
        throw fail("GIF has no image")
    }

    private static func interlacedRows(_ h: Int) -> [Int] {
        [(0, 8), (4, 8), (2, 4), (1, 2)].flatMap { start, step in Array(stride(from: start, to: h, by: step)) }
    }

    /// GIF's variable-width LZW, least significant bit first.
    private static func lzw(_ data: [UInt8], minimumCodeSize: Int, count: Int, fail: (String) -> ModelError) throws -> [UInt8] {
        guard (2...11).contains(minimumCodeSize) else { throw fail("corrupt GIF (code size \(minimumCodeSize))") }
        let clear = 1 << minimumCodeSize, end = clear + 1
        var prefix = [Int](repeating: -1, count: 4096), suffix = [UInt8](repeating: 0, count: 4096)
        for i in 0..<clear { suffix[i] = UInt8(i) }
        var (next, width, previous) = (clear + 2, minimumCodeSize + 1, -1)
        var (bits, buffered, out) = (0, 0, [UInt8]())
        out.reserveCapacity(count)
        func expand(_ code: Int) -> [UInt8] {
            var chain: [UInt8] = []
            var c = code
            while c >= 0 && chain.count <= 4096 { chain.append(suffix[c]); c = prefix[c] }
            return chain.reversed()
        }
        for byte in data {
            buffered |= Int(byte) << bits
            bits += 8
            while bits >= width {
                let code = buffered & ((1 << width) - 1)
                buffered >>= width
                bits -= width
                if code == clear {
                    (next, width, previous) = (clear + 2, minimumCodeSize + 1, -1)
                    continue
                }
                if code == end || out.count >= count { return out }
                var entry: [UInt8]
                if code < next && (code < clear || prefix[code] >= 0 || code < clear + 2) {
                    entry = expand(code)
                } else if code == next && previous >= 0 {
                    entry = expand(previous)
                    entry.append(entry[0])
                } else {
                    throw fail("corrupt GIF image data")
                }
                out += entry
                if previous >= 0 && next < 4096 {
                    prefix[next] = previous
                    suffix[next] = entry[0]
                    next += 1
                    if next == 1 << width && width < 12 { width += 1 }
                }
                previous = code
            }
        }
        return out
    }

    /// The EXIF orientation (1–8) of a JPEG, or 1.
    static func jpegOrientation(_ b: [UInt8]) -> Int {
        var i = 2
        while i + 4 < b.count, b[i] == 0xFF {
            let marker = b[i + 1], length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            if marker == 0xE1, i + 10 < b.count, Array(b[(i + 4)..<(i + 10)]) == Array("Exif\0\0".utf8) {
                let tiff = i + 10
                guard tiff + 8 < b.count else { return 1 }
                let little = b[tiff] == 0x49
                func u16(_ p: Int) -> Int { little ? le16(b, p) : Int(b[p]) << 8 | Int(b[p + 1]) }
                func u32(_ p: Int) -> Int { little ? le32(b, p) : u16(p) << 16 | u16(p + 2) }
                let ifd = tiff + u32(tiff + 4)
                guard ifd + 2 < b.count else { return 1 }
                for entry in 0..<u16(ifd) {
                    let p = ifd + 2 + 12 * entry
                    guard p + 10 < b.count else { return 1 }
                    if u16(p) == 0x0112 { return (1...8).contains(u16(p + 8)) ? u16(p + 8) : 1 }
                }
                return 1
            }
            if marker == 0xDA { return 1 }  // image data starts: no EXIF before it
            i += 2 + length
        }
        return 1
    }

    /// The image turned upright for an EXIF orientation.
    static func orient(_ image: RGBImage, _ orientation: Int) -> RGBImage {
        guard orientation != 1 else { return image }
        let (w, h) = (image.width, image.height)
        let transposed = orientation >= 5
        let (ow, oh) = transposed ? (h, w) : (w, h)
        var out = [UInt8](repeating: 0, count: image.pixels.count)
        for y in 0..<oh {
            for x in 0..<ow {
                // Where output (x, y) comes from in the stored image.
                let (sx, sy): (Int, Int)
                switch orientation {
                case 2: (sx, sy) = (w - 1 - x, y)
                case 3: (sx, sy) = (w - 1 - x, h - 1 - y)
                case 4: (sx, sy) = (x, h - 1 - y)
                case 5: (sx, sy) = (y, x)
                case 6: (sx, sy) = (y, h - 1 - x)
                case 7: (sx, sy) = (w - 1 - y, h - 1 - x)
                default: (sx, sy) = (w - 1 - y, x)
                }
                for k in 0..<3 { out[(y * ow + x) * 3 + k] = image.pixels[(sy * w + sx) * 3 + k] }
            }
        }
        return RGBImage(width: ow, height: oh, pixels: out)
    }
}
