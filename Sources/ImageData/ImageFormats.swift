import CImages
import Core
import Foundation

/// BMP decoding, and the EXIF orientation of JPEG files.
enum ImageFormats {
    private static func le16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
    private static func le32(_ b: [UInt8], _ i: Int) -> Int { le16(b, i) | le16(b, i + 2) << 16 }

    /// Uncompressed 8-bit (palette), 24-bit and 32-bit BMP files, bottom-up or top-down; the channel
    /// masks of 32-bit BI_BITFIELDS files are honoured.
    static func decodeBMP(_ b: [UInt8], name: String) throws -> RGBImage {
        func fail(_ why: String) -> DataError { DataError("image \(name): \(why)") }
        guard b.count >= 54 else { throw fail("truncated BMP header") }
        let offset = le32(b, 10), headerSize = le32(b, 14)
        let width = Int(Int32(bitPattern: UInt32(le32(b, 18))))
        let signedHeight = Int(Int32(bitPattern: UInt32(le32(b, 22))))
        let (height, topDown) = (abs(signedHeight), signedHeight < 0)
        let bits = le16(b, 28), compression = le32(b, 30)
        guard width > 0, height > 0 else { throw fail("BMP has impossible size \(width)x\(signedHeight)") }
        try checkPixels(width: width, height: height, fail: fail)
        let bitfields = compression == 3 && bits == 32
        guard [8, 24, 32].contains(bits), compression == 0 || bitfields else {
            throw fail("unsupported BMP (\(bits) bits, compression \(compression)); save it as PNG or JPEG")
        }
        var palette: [[UInt8]] = []
        if bits == 8 {
            let colours = le32(b, 46) == 0 ? 256 : le32(b, 46)
            let start = 14 + headerSize
            guard b.count >= start + 4 * colours else { throw fail("truncated BMP palette") }
            palette = (0..<colours).map { [b[start + 4 * $0 + 2], b[start + 4 * $0 + 1], b[start + 4 * $0]] }
        }
        // Every header version keeps the red, green and blue masks right after the first 40 bytes.
        guard !bitfields || b.count >= 66 else { throw fail("truncated BMP colour masks") }
        let masks = try (bitfields ? [le32(b, 54), le32(b, 58), le32(b, 62)] : [0xFF0000, 0xFF00, 0xFF]).map { mask in
            guard let channel = ChannelMask(UInt32(mask)) else {
                throw fail("BMP colour mask 0x\(String(mask, radix: 16)) is empty or not contiguous; save it as PNG")
            }
            return channel
        }
        let stride = (bits * width + 31) / 32 * 4, bytesPerPixel = bits / 8
        guard b.count >= offset + stride * height else { throw fail("truncated BMP pixel data") }
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for row in 0..<height {
            let source = offset + (topDown ? row : height - 1 - row) * stride
            for col in 0..<width {
                let out = (row * width + col) * 3
                if bits == 8 {
                    let index = Int(b[source + col])
                    guard index < palette.count else { throw fail("BMP colour index out of its palette") }
                    pixels.replaceSubrange(out..<(out + 3), with: palette[index])
                } else {
                    let p = source + col * bytesPerPixel
                    let packed = (0..<bytesPerPixel).reduce(UInt32(0)) { $0 | UInt32(b[p + $1]) << (8 * $1) }
                    for (c, mask) in masks.enumerated() { pixels[out + c] = mask.value(in: packed) }
                }
            }
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// Refuses sizes beyond ImageLimits.maxPixels, with the message the C decoders give.
    private static func checkPixels(width: Int, height: Int, fail: (String) -> DataError) throws {
        var message = [CChar](repeating: 0, count: 256)
        guard ci_check_pixels(UInt64(width), UInt64(height), ImageLimits.c, &message, message.count) != 0 else {
            throw fail(message.nulTerminatedText)
        }
    }

    /// One colour channel of a packed BMP pixel: where its bits are, scaled to 0…255 as Pillow does.
    private struct ChannelMask {
        let mask: UInt32, shift: Int, maximum: UInt32

        init?(_ mask: UInt32) {
            let shift = mask.trailingZeroBitCount
            guard mask != 0, (mask >> shift) & ((mask >> shift) &+ 1) == 0 else { return nil }
            (self.mask, self.shift, maximum) = (mask, shift, mask >> shift)
        }

        func value(in pixel: UInt32) -> UInt8 { UInt8(UInt64((pixel & mask) >> shift) * 255 / UInt64(maximum)) }
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
