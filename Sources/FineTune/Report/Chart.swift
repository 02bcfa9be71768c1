import Foundation
import ImageData

/// A line chart of per-epoch values with axes, ticks, a legend and the phase boundaries marked. One layout
/// draws both the report's inline SVG and the PNG beside it, so the two always show the same chart.
struct Chart {
    struct Series {
        let name: String
        let values: [Float]
    }

    let title: String
    let series: [Series]
    /// Epochs (0-based, over the whole run) at which phase 2, 3, … begin.
    let phaseStarts: [Int]
    /// Rounded values from at or below the lowest (and zero) to at or above the highest, 1, 2 or 5 times a power of ten apart.
    let valueTicks: [Float]
    let width = 520, height = 300
    private let left = 56, right = 16, top = 28, bottom = 44
    static let colours: [Canvas.Colour] = [(31, 119, 180), (255, 127, 14)]
    private static let axisColour: Canvas.Colour = (90, 90, 90), gridColour: Canvas.Colour = (225, 225, 225)
    private static let phaseColour: Canvas.Colour = (150, 150, 150)

    /// The per-epoch loss or accuracy of a run's history (training and, where there is one, validation).
    init(title: String, history: [EpochRecord], training: KeyPath<EpochRecord, Float>, validation: KeyPath<EpochRecord, Float?>) {
        self.title = title
        series = [Series(name: "training", values: history.map { $0[keyPath: training] }),
                  Series(name: "validation", values: history.compactMap { $0[keyPath: validation] })].filter { !$0.values.isEmpty }
        phaseStarts = history.indices.dropFirst().filter { history[$0].phase != history[$0 - 1].phase }
        valueTicks = Self.ticks(series.flatMap(\.values).filter(\.isFinite))
    }

    private var epochs: Int { max(series.map(\.values.count).max() ?? 1, 1) }

    private static func ticks(_ values: [Float]) -> [Float] {
        let low = min(values.min() ?? 0, 0), high = max(values.max() ?? 1, low + 1e-6)
        let rough = Double(high - low) / 4
        let power = pow(10, floor(log10(rough)))
        let step = ([1.0, 2, 5, 10].first { $0 * power >= rough } ?? 10) * power
        let first = Int(floor(Double(low) / step)), last = Int(ceil(Double(high) / step))
        return (first...last).map { Float(Double($0) * step) }
    }

    /// Epoch numbers (1-based) to label: every one up to ten epochs, then evenly spaced.
    var epochTicks: [Int] {
        let step = max(1, Int((Double(epochs) / 10).rounded(.up)))
        return Array(stride(from: 1, through: epochs, by: step))
    }

    private func x(_ epoch: Double) -> Double {
        let span = Double(width - left - right)
        return Double(left) + (epochs == 1 ? span / 2 : epoch / Double(epochs - 1) * span)
    }

    private func y(_ value: Float) -> Double {
        let (low, high) = (valueTicks.first!, valueTicks.last!)
        return Double(height - bottom) - Double((value - low) / (high - low)) * Double(height - top - bottom)
    }

    func draw(on canvas: inout some Canvas) {
        let (plotLeft, plotRight) = (Double(left), Double(width - right))
        let (plotTop, plotBottom) = (Double(top), Double(height - bottom))
        for value in valueTicks {
            let level = y(value)
            canvas.line((plotLeft, level), (plotRight, level), colour: Self.gridColour)
            canvas.line((plotLeft - 4, level), (plotLeft, level), colour: Self.axisColour)
            canvas.text(String(format: "%g", value), at: (plotLeft - 7, level), colour: Self.axisColour, anchor: .end)
        }
        for epoch in epochTicks {
            let position = x(Double(epoch - 1))
            canvas.line((position, plotBottom), (position, plotBottom + 4), colour: Self.axisColour)
            canvas.text("\(epoch)", at: (position, plotBottom + 12), colour: Self.axisColour, anchor: .middle)
        }
        canvas.line((plotLeft, plotTop), (plotLeft, plotBottom), colour: Self.axisColour)
        canvas.line((plotLeft, plotBottom), (plotRight, plotBottom), colour: Self.axisColour)
        canvas.text("epoch", at: ((plotLeft + plotRight) / 2, plotBottom + 30), colour: Self.axisColour, anchor: .middle)
        canvas.text(title, at: (plotLeft, Double(top) / 2), colour: Self.axisColour, anchor: .start)
        // A phase begins between its first epoch and the previous phase's last.
        for (n, start) in phaseStarts.enumerated() {
            let position = x(Double(start) - 0.5)
            canvas.line((position, plotTop), (position, plotBottom), colour: Self.phaseColour, dashed: true)
            canvas.text("phase \(n + 2)", at: (position + 4, plotTop + 8), colour: Self.phaseColour, anchor: .start)
        }
        for (s, line) in series.enumerated() {
            let colour = Self.colours[s % Self.colours.count]
            let points = line.values.enumerated().map { (x(Double($0)), y($1)) }
            // A single epoch is a dot: a thick line from the point to itself.
            for (a, b) in zip(points, points.count == 1 ? points : Array(points.dropFirst())) {
                canvas.line(a, b, colour: colour, thickness: points.count == 1 ? 5 : 2)
            }
            let legendY = Double(top) / 2 + Double(14 * s)
            canvas.line((plotRight - 100, legendY), (plotRight - 80, legendY), colour: colour, thickness: 2)
            canvas.text(line.name, at: (plotRight - 74, legendY), colour: colour, anchor: .start)
        }
    }

    func svg() -> String {
        var canvas = SVGCanvas(width: width, height: height)
        draw(on: &canvas)
        return canvas.document
    }

    func png() throws -> Data {
        var canvas = RasterCanvas(width: width, height: height)
        draw(on: &canvas)
        return try canvas.image.pngData()
    }
}

/// What a chart draws on: lines and short labels, in pixels from the top left.
protocol Canvas {
    typealias Colour = (UInt8, UInt8, UInt8)
    typealias Point = (Double, Double)
    mutating func line(_ a: Point, _ b: Point, colour: Colour, thickness: Int, dashed: Bool)
    /// `at` is the middle of the text's height, at its start, middle or end.
    mutating func text(_ text: String, at: Point, colour: Colour, anchor: TextAnchor)
}

enum TextAnchor: String { case start, middle, end }

extension Canvas {
    mutating func line(_ a: Point, _ b: Point, colour: Colour, thickness: Int = 1, dashed: Bool = false) {
        line(a, b, colour: colour, thickness: thickness, dashed: dashed)
    }
}

struct SVGCanvas: Canvas {
    private var text: String
    var document: String { text + "</svg>" }

    init(width: Int, height: Int) {
        text = "<svg xmlns='http://www.w3.org/2000/svg' width='\(width)' height='\(height)' font-size='11' font-family='sans-serif'>"
            + "<rect width='\(width)' height='\(height)' fill='white'/>"
    }

    private func rgb(_ c: Colour) -> String { "rgb(\(c.0),\(c.1),\(c.2))" }
    private func number(_ x: Double) -> String { String(format: "%.1f", x) }

    mutating func line(_ a: Point, _ b: Point, colour: Colour, thickness: Int, dashed: Bool) {
        text += "<line x1='\(number(a.0))' y1='\(number(a.1))' x2='\(number(b.0))' y2='\(number(b.1))' stroke='\(rgb(colour))' stroke-width='\(thickness)'"
            + " stroke-linecap='round'\(dashed ? " stroke-dasharray='4 3'" : "")/>"
    }

    mutating func text(_ label: String, at point: Point, colour: Colour, anchor: TextAnchor) {
        let escaped = label.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        text += "<text x='\(number(point.0))' y='\(number(point.1))' fill='\(rgb(colour))' text-anchor='\(anchor.rawValue)'"
            + " dominant-baseline='middle'>\(escaped)</text>"
    }
}

/// Pixels for a PNG; text in a 5×7 bitmap font.
struct RasterCanvas: Canvas {
    private(set) var image: RGBImage

    init(width: Int, height: Int) {
        image = RGBImage(width: width, height: height, pixels: [UInt8](repeating: 255, count: width * height * 3))
    }

    private mutating func plot(_ x: Int, _ y: Int, _ c: Colour) {
        guard x >= 0, x < image.width, y >= 0, y < image.height else { return }
        let i = (y * image.width + x) * 3
        (image.pixels[i], image.pixels[i + 1], image.pixels[i + 2]) = c
    }

    mutating func line(_ a: Point, _ b: Point, colour: Colour, thickness: Int, dashed: Bool) {
        let steps = max(Int(max(abs(b.0 - a.0), abs(b.1 - a.1))), 1)
        for s in 0...steps where !dashed || s % 7 < 4 {
            let t = Double(s) / Double(steps)
            let (x, y) = (Int((a.0 + (b.0 - a.0) * t).rounded()), Int((a.1 + (b.1 - a.1) * t).rounded()))
            for dx in 0..<thickness { for dy in 0..<thickness { plot(x + dx, y + dy, colour) } }
        }
    }

    mutating func text(_ label: String, at point: Point, colour: Colour, anchor: TextAnchor) {
        let width = BitmapFont.width(of: label)
        let shift = switch anchor { case .start: 0; case .middle: width / 2; case .end: width }
        let (x0, y0) = (Int(point.0.rounded()) - shift, Int(point.1.rounded()) - BitmapFont.height / 2)
        for (n, character) in label.enumerated() {
            for (row, bits) in BitmapFont.rows(of: character).enumerated() {
                for column in 0..<BitmapFont.glyphWidth where bits & (1 << (BitmapFont.glyphWidth - 1 - column)) != 0 {
                    plot(x0 + n * BitmapFont.advance + column, y0 + row, colour)
                }
            }
        }
    }
}

/// A 5×7 pixel font for the characters chart labels use (numbers, and the lowercase words of the titles,
/// legends and phase marks); any other character is left blank.
enum BitmapFont {
    static let glyphWidth = 5, height = 7, advance = 6

    static func width(of text: String) -> Int { max(text.count * advance - 1, 0) }

    /// Seven rows (nine for g, p and y, which reach below the line), each a 5-bit pattern with the leftmost
    /// pixel in the high bit.
    static func rows(of character: Character) -> [UInt8] {
        guard let pattern = glyphs[character] else { return [] }
        return pattern.split(separator: " ").map { UInt8($0, radix: 2)! }
    }

    private static let glyphs: [Character: String] = [
        "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
        "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
        "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
        "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
        "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
        ".": "00000 00000 00000 00000 00000 01100 01100", "-": "00000 00000 00000 11111 00000 00000 00000",
        "+": "00000 00100 00100 11111 00100 00100 00000",
        "a": "00000 00000 01110 00001 01111 10001 01111", "c": "00000 00000 01110 10000 10000 10001 01110",
        "d": "00001 00001 01101 10011 10001 10001 01111", "e": "00000 00000 01110 10001 11111 10000 01110",
        "g": "00000 00000 01111 10001 10001 10001 01111 00001 01110", "h": "10000 10000 10110 11001 10001 10001 10001",
        "i": "00100 00000 01100 00100 00100 00100 01110", "l": "01100 00100 00100 00100 00100 00100 01110",
        "n": "00000 00000 10110 11001 10001 10001 10001", "o": "00000 00000 01110 10001 10001 10001 01110",
        "p": "00000 00000 11110 10001 10001 10001 11110 10000 10000", "r": "00000 00000 10110 11001 10000 10000 10000",
        "s": "00000 00000 01110 10000 01110 00001 11110", "t": "01000 01000 11100 01000 01000 01001 00110",
        "u": "00000 00000 10001 10001 10001 10011 01101", "v": "00000 00000 10001 10001 10001 01010 00100",
        "y": "00000 00000 10001 10001 10001 10001 01111 00001 01110",
    ]
}
