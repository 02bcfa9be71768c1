import Core
import Foundation

/// Seeded image augmentation on RGB values 0…255 (before the model's preprocessing). The same
/// seed, image and view always give the same result, so features of a view can be cached.
public struct Augmentation: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Policy: String, Sendable, CaseIterable {
        case none, light, standard
    }

    public var horizontalFlip = false
    public var verticalFlip = false
    /// Largest rotation, in degrees either way.
    public var rotation: Float = 0
    /// Largest zoom in or out, as a fraction (0.1: 90%–110%).
    public var zoom: Float = 0
    /// Largest shift, as a fraction of the side.
    public var translation: Float = 0
    /// Largest brightness change, as a fraction of the range.
    public var brightness: Float = 0
    /// Largest contrast and saturation changes, as fractions.
    public var contrast: Float = 0
    public var saturation: Float = 0
    /// Standard deviation of added Gaussian noise, in pixel levels.
    public var noise: Float = 0
    /// Chance of a 3×3 box blur.
    public var blur: Float = 0

    public init() {}

    public init(_ policy: Policy) {
        switch policy {
        case .none:
            break
        case .light:
            horizontalFlip = true
            rotation = 10
            zoom = 0.1
            brightness = 0.1
        case .standard:
            horizontalFlip = true
            rotation = 15
            zoom = 0.15
            translation = 0.1
            brightness = 0.15
            contrast = 0.2
            saturation = 0.2
            noise = 3
            blur = 0.1
        }
    }

    public var isIdentity: Bool { self == Augmentation() }

    /// The transforms in use, e.g. "horizontal flips, zoom ±10%".
    public var description: String {
        let percent = { (name: String, value: Float) in value > 0 ? "\(name) ±\(Int((value * 100).rounded()))%" : nil }
        let parts: [String?] = [
            horizontalFlip ? "horizontal flips" : nil, verticalFlip ? "vertical flips" : nil,
            rotation > 0 ? "rotation ±\(String(format: "%g", rotation))°" : nil, percent("zoom", zoom), percent("shift", translation),
            percent("brightness", brightness), percent("contrast", contrast), percent("saturation", saturation),
            noise > 0 ? "noise σ \(String(format: "%g", noise))" : nil, blur > 0 ? "blur \(Int((blur * 100).rounded()))% of images" : nil,
        ]
        let used = parts.compactMap { $0 }
        return used.isEmpty ? "none" : used.joined(separator: ", ")
    }

    /// The augmented copy of a `size`×`size` RGB image for (`seed`, `image`, `view`).
    public func apply(_ pixels: [Float], size: Int, seed: UInt64, image: Int, view: Int) -> [Float] {
        guard !isIdentity else { return pixels }
        var rng = SeededGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(image) &* 0x85EB_CA6B &+ UInt64(view) &* 0xC2B2_AE35)
        func uniform(_ limit: Float) -> Float { limit > 0 ? Float.random(in: -limit...limit, using: &rng) : 0 }
        let flipX = horizontalFlip && Bool.random(using: &rng)
        let flipY = verticalFlip && Bool.random(using: &rng)
        let angle = uniform(rotation) * .pi / 180
        let scale = 1 + uniform(zoom)
        let (dx, dy) = (uniform(translation) * Float(size), uniform(translation) * Float(size))
        var out = resample(pixels, size: size, angle: angle, scale: scale, shift: (dx, dy), flip: (flipX, flipY))
        colour(&out, brightness: uniform(brightness) * 255, contrast: 1 + uniform(contrast), saturation: 1 + uniform(saturation))
        if noise > 0 {
            for i in out.indices {
                // Box–Muller from two uniforms.
                let u = max(Float.random(in: 0..<1, using: &rng), 1e-7), v = Float.random(in: 0..<1, using: &rng)
                out[i] += noise * (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
            }
        }
        if blur > 0, Float.random(in: 0..<1, using: &rng) < blur { out = boxBlur(out, size: size) }
        return out.map { min(max($0, 0), 255) }
    }

    /// Each output pixel samples the input through the inverse of flip, rotation, zoom and shift (bilinear, edges clamped).
    private func resample(_ x: [Float], size: Int, angle: Float, scale: Float, shift: (Float, Float), flip: (Bool, Bool)) -> [Float] {
        if angle == 0 && scale == 1 && shift == (0, 0) && !flip.0 && !flip.1 { return x }
        let centre = Float(size - 1) / 2
        let (c, s) = (cos(angle) / scale, sin(angle) / scale)
        var out = [Float](repeating: 0, count: x.count)
        for row in 0..<size {
            for col in 0..<size {
                let (u0, v0) = (Float(flip.0 ? size - 1 - col : col) - centre - shift.0, Float(flip.1 ? size - 1 - row : row) - centre - shift.1)
                let u = min(max(c * u0 + s * v0 + centre, 0), Float(size - 1))
                let v = min(max(-s * u0 + c * v0 + centre, 0), Float(size - 1))
                let (x0, y0) = (Int(u), Int(v))
                let (x1, y1) = (min(x0 + 1, size - 1), min(y0 + 1, size - 1))
                let (fx, fy) = (u - Float(x0), v - Float(y0))
                for k in 0..<3 {
                    let top = x[(y0 * size + x0) * 3 + k] * (1 - fx) + x[(y0 * size + x1) * 3 + k] * fx
                    let bottom = x[(y1 * size + x0) * 3 + k] * (1 - fx) + x[(y1 * size + x1) * 3 + k] * fx
                    out[(row * size + col) * 3 + k] = top * (1 - fy) + bottom * fy
                }
            }
        }
        return out
    }

    private func colour(_ x: inout [Float], brightness: Float, contrast: Float, saturation: Float) {
        if brightness == 0 && contrast == 1 && saturation == 1 { return }
        let mean = x.reduce(0, +) / Float(max(x.count, 1))
        for p in stride(from: 0, to: x.count, by: 3) {
            let gray = 0.299 * x[p] + 0.587 * x[p + 1] + 0.114 * x[p + 2]
            for k in 0..<3 {
                let saturated = gray + (x[p + k] - gray) * saturation
                x[p + k] = (saturated - mean) * contrast + mean + brightness
            }
        }
    }

    private func boxBlur(_ x: [Float], size: Int) -> [Float] {
        var out = x
        for row in 0..<size {
            for col in 0..<size {
                for k in 0..<3 {
                    var (sum, n): (Float, Float) = (0, 0)
                    for r in max(row - 1, 0)...min(row + 1, size - 1) {
                        for q in max(col - 1, 0)...min(col + 1, size - 1) {
                            sum += x[(r * size + q) * 3 + k]
                            n += 1
                        }
                    }
                    out[(row * size + col) * 3 + k] = sum / n
                }
            }
        }
        return out
    }
}
