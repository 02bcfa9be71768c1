import Core
import FineTune
import Foundation
import ZooIO

/// report.html (self-contained: inline SVG charts and images as data URIs, so it opens from disk with
/// no network) plus the curves as loss.png and accuracy.png.
struct RunReport {
    let title: String
    let history: [EpochRecord]
    let scores: ClassificationScores?
    /// Validation images with their true and predicted classes.
    let samples: [(image: RGBImage, truth: String, predicted: String, probability: Float)]

    func write(to directory: URL) throws {
        let loss = curves([("training", history.map(\.loss)), ("validation", history.compactMap(\.validationLoss))])
        let accuracy = curves([("training", history.map(\.accuracy)), ("validation", history.compactMap(\.validationAccuracy))])
        try DurableFile.write(loss.png(), to: directory.appendingPathComponent("loss.png"))
        try DurableFile.write(accuracy.png(), to: directory.appendingPathComponent("accuracy.png"))
        var html = """
        <!doctype html><html><head><meta charset="utf-8"><title>\(escape(title))</title><style>
        body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
        td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}
        .grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;text-align:center;font-size:12px;width:112px}
        figure img{width:96px;height:96px;image-rendering:pixelated;border:3px solid #3a3}figure.wrong img{border-color:#c33}
        .charts{display:flex;gap:2em;flex-wrap:wrap}
        </style></head><body><h1>\(escape(title))</h1>
        <div class="charts"><div><h2>Loss</h2>\(loss.svg())</div><div><h2>Accuracy</h2>\(accuracy.svg())</div></div>
        """
        if let scores {
            html += "<h2>Validation: accuracy \(String(format: "%.4f", scores.accuracy)), macro F1 \(String(format: "%.4f", scores.macroF1))</h2>"
            html += "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
            for c in scores.classes {
                html += "<tr><td style='text-align:left'>\(escape(c.name))</td>" + [c.precision, c.recall, c.f1].map {
                    "<td>\(String(format: "%.3f", $0))</td>"
                }.joined() + "<td>\(c.support)</td></tr>"
            }
            html += "</table><h2>Confusion matrix</h2><p>Rows: true class; columns: predicted.</p><table><tr><th></th>"
            html += scores.classes.map { "<th>\(escape($0.name))</th>" }.joined() + "</tr>"
            for (i, row) in scores.confusion.enumerated() {
                let total = max(row.reduce(0, +), 1)
                html += "<tr><th>\(escape(scores.classes[i].name))</th>"
                for (j, n) in row.enumerated() {
                    let share = Double(n) / Double(total)
                    let colour = i == j ? "rgba(40,150,60,\(share))" : "rgba(200,40,40,\(share))"
                    html += "<td style='background:\(colour)'>\(n)</td>"
                }
                html += "</tr>"
            }
            html += "</table>"
        }
        if !samples.isEmpty {
            html += "<h2>Validation images (mistakes first)</h2><div class='grid'>"
            for sample in samples.sorted(by: { ($0.truth == $0.predicted ? 1 : 0) < ($1.truth == $1.predicted ? 1 : 0) }) {
                let wrong = sample.truth != sample.predicted
                html += "<figure class='\(wrong ? "wrong" : "right")'><img alt='' src='data:image/png;base64,"
                html += try sample.image.pngData().base64EncodedString()
                html += "'><figcaption>true: \(escape(sample.truth))<br>predicted: \(escape(sample.predicted)) (\(String(format: "%.2f", sample.probability)))</figcaption></figure>"
            }
            html += "</div>"
        }
        html += "</body></html>\n"
        try DurableFile.write(html, to: directory.appendingPathComponent("report.html"))
    }

    private func curves(_ series: [(String, [Float])]) -> Chart { Chart(series: series.filter { !$0.1.isEmpty }) }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&#39;")
    }
}

/// A line chart of per-epoch values, drawn as SVG (with labels) and as a PNG raster (curves and grid).
struct Chart {
    let series: [(String, [Float])]
    let width = 480, height = 280, margin = 40
    static let colours: [(UInt8, UInt8, UInt8)] = [(31, 119, 180), (255, 127, 14)]

    private var range: (low: Float, high: Float) {
        let values = series.flatMap(\.1).filter(\.isFinite)
        let low = min(values.min() ?? 0, 0), high = max(values.max() ?? 1, low + 1e-6)
        return (low, high)
    }

    private var epochs: Int { max(series.map(\.1.count).max() ?? 1, 2) }

    private func point(_ index: Int, _ value: Float) -> (Double, Double) {
        let x = Double(margin) + Double(index) / Double(epochs - 1) * Double(width - 2 * margin)
        let y = Double(height - margin) - Double((value - range.low) / (range.high - range.low)) * Double(height - 2 * margin)
        return (x, y)
    }

    func svg() -> String {
        var text = "<svg xmlns='http://www.w3.org/2000/svg' width='\(width)' height='\(height)' font-size='11'>"
        text += "<rect width='\(width)' height='\(height)' fill='white'/>"
        for k in 0...4 {
            let value = range.low + (range.high - range.low) * Float(k) / 4
            let (_, y) = point(0, value)
            text += "<line x1='\(margin)' x2='\(width - margin)' y1='\(y)' y2='\(y)' stroke='#ddd'/>"
            text += "<text x='4' y='\(y + 4)'>\(String(format: "%.3g", value))</text>"
        }
        text += "<text x='\(width / 2 - 20)' y='\(height - 8)'>epoch (1–\(epochs))</text>"
        for (s, (name, values)) in series.enumerated() {
            let (r, g, b) = Chart.colours[s % Chart.colours.count]
            let points = values.enumerated().map { i, v in let (x, y) = point(i, v); return "\(x),\(y)" }.joined(separator: " ")
            text += "<polyline fill='none' stroke='rgb(\(r),\(g),\(b))' stroke-width='2' points='\(points)'/>"
            text += "<text x='\(width - margin - 90)' y='\(16 + 14 * s)' fill='rgb(\(r),\(g),\(b))'>\(name)</text>"
        }
        return text + "</svg>"
    }

    func png() throws -> Data {
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        func plot(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8)) {
            guard x >= 0, x < width, y >= 0, y < height else { return }
            let i = (y * width + x) * 3
            (pixels[i], pixels[i + 1], pixels[i + 2]) = c
        }
        func line(_ a: (Double, Double), _ b: (Double, Double), _ c: (UInt8, UInt8, UInt8), thick: Int) {
            let steps = max(Int(max(abs(b.0 - a.0), abs(b.1 - a.1))), 1)
            for s in 0...steps {
                let t = Double(s) / Double(steps)
                let (x, y) = (Int(a.0 + (b.0 - a.0) * t), Int(a.1 + (b.1 - a.1) * t))
                for dx in 0..<thick { for dy in 0..<thick { plot(x + dx, y + dy, c) } }
            }
        }
        for k in 0...4 {
            let (_, y) = point(0, range.low + (range.high - range.low) * Float(k) / 4)
            line((Double(margin), y), (Double(width - margin), y), (220, 220, 220), thick: 1)
        }
        line((Double(margin), Double(margin)), (Double(margin), Double(height - margin)), (120, 120, 120), thick: 1)
        for (s, (_, values)) in series.enumerated() {
            let colour = Chart.colours[s % Chart.colours.count]
            for i in values.indices.dropFirst() { line(point(i - 1, values[i - 1]), point(i, values[i]), colour, thick: 2) }
        }
        return try RGBImage(width: width, height: height, pixels: pixels).pngData()
    }
}
