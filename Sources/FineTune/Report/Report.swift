import Core
import Foundation
import ImageData
import KerasFiles

/// report.html (self-contained: inline SVG charts and images as data URIs, so it opens from disk with
/// no network) plus the curves as loss.png and accuracy.png.
public struct RunReport {
    /// The validation scores of the best checkpoint.
    public enum Scores {
        case singleLabel(ClassificationScores)
        case multiLabel(MultiLabelScores)
    }

    public let title: String
    public let history: [EpochRecord]
    public let scores: Scores?
    public let gallery: ReportGallery?

    public func write(to directory: URL) throws {
        let loss = Chart(title: "loss", history: history, training: \.loss, validation: \.validationLoss)
        let accuracy = Chart(title: "accuracy", history: history, training: \.accuracy, validation: \.validationAccuracy)
        try DurableFile.write(loss.png(), to: directory.appendingPathComponent("loss.png"))
        try DurableFile.write(accuracy.png(), to: directory.appendingPathComponent("accuracy.png"))
        var html = """
        <!doctype html><html><head><meta charset="utf-8"><title>\(escape(title))</title><style>
        body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}
        td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}
        .grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;text-align:center;font-size:12px;width:112px;overflow-wrap:anywhere}
        figure img{width:96px;height:96px;image-rendering:pixelated;border:3px solid #3a3}figure.wrong img{border-color:#c33}
        .charts{display:flex;gap:2em;flex-wrap:wrap}
        </style></head><body><h1>\(escape(title))</h1>
        <div class="charts"><div><h2>Loss</h2>\(loss.svg())</div><div><h2>Accuracy</h2>\(accuracy.svg())</div></div>
        """
        switch scores {
        case .singleLabel(let scores): html += singleLabelTables(scores)
        case .multiLabel(let scores): html += multiLabelTable(scores)
        case nil: break
        }
        if let gallery { html += try galleryHTML(gallery) }
        html += "</body></html>\n"
        try DurableFile.write(html, to: directory.appendingPathComponent("report.html"))
    }

    private func perClassRows(_ classes: [ClassificationScores.PerClass]) -> String {
        var html = "<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>"
        for c in classes {
            html += "<tr><td style='text-align:left'>\(escape(c.name))</td>" + [c.precision, c.recall, c.f1].map {
                "<td>\(String(format: "%.3f", $0))</td>"
            }.joined() + "<td>\(c.support)</td></tr>"
        }
        return html + "</table>"
    }

    private func singleLabelTables(_ scores: ClassificationScores) -> String {
        var html = "<h2>Validation: accuracy \(String(format: "%.4f", scores.accuracy)), macro F1 \(String(format: "%.4f", scores.macroF1))</h2>"
        html += perClassRows(scores.classes)
        html += "<h2>Confusion matrix</h2><p>Rows: true class; columns: predicted.</p><table><tr><th></th>"
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
        return html + "</table>"
    }

    private func multiLabelTable(_ scores: MultiLabelScores) -> String {
        let threshold = String(format: "%g", scores.threshold)
        return "<h2>Validation (multi-label): exact match \(String(format: "%.4f", scores.exactMatch)), per-label accuracy "
            + "\(String(format: "%.4f", scores.labelAccuracy))</h2><p>Each label is predicted when its probability is \(threshold) or more; "
            + "support: the images that have it.</p>" + perClassRows(scores.classes)
    }

    private func galleryHTML(_ gallery: ReportGallery) throws -> String {
        var html = "<h2>Validation images (mistakes first)</h2>"
        if gallery.hiddenMistakes + gallery.hiddenCorrect > 0 {
            html += "<p class='not-shown'>Not shown: \(counted(gallery.hiddenMistakes, "mistake")) and "
                + "\(counted(gallery.hiddenCorrect, "correct prediction")) (the first \(gallery.shown.count) images are shown).</p>"
        }
        html += "<div class='grid'>"
        for (sample, image) in gallery.shown {
            html += "<figure class='\(sample.isMistake ? "wrong" : "right")' title='\(escape(sample.file))'><img alt='' src='data:image/png;base64,"
            html += try image.pngData().base64EncodedString()
            html += "'><figcaption>\(escape((sample.file as NSString).lastPathComponent))<br>true: \(escape(sample.truth))"
                + "<br>predicted: \(escape(sample.predicted))</figcaption></figure>"
        }
        return html + "</div>"
    }

    private func counted(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "'", with: "&#39;")
    }
}
