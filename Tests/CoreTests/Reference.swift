import Core

/// Plain loops that spell out Keras' semantics, to check the oneDNN kernels against.
enum Reference {
    static func random(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        return Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in Float.random(in: -scale...scale, using: &rng) })
    }

    /// Cross-correlation with TensorFlow's padding placement; `depthwise` kernels are (kh, kw, C, 1).
    static func conv(_ x: Tensor, _ k: Tensor, bias: [Float]?, strides: (Int, Int), padding: Padding, depthwise: Bool = false) -> Tensor {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (kh, kw) = (k.shape[0], k.shape[1])
        let oc = depthwise ? c : k.shape[3]
        let rows = padding.geometry(input: h, kernel: kh, stride: strides.0)
        let cols = padding.geometry(input: w, kernel: kw, stride: strides.1)
        var y = Tensor(zeros: [n, rows.output, cols.output, oc])
        for b in 0..<n {
            for i in 0..<rows.output {
                for j in 0..<cols.output {
                    for o in 0..<oc {
                        var sum = Double(bias?[o] ?? 0)
                        for p in 0..<kh {
                            for q in 0..<kw {
                                let (r, s) = (i * strides.0 + p - rows.before, j * strides.1 + q - cols.before)
                                guard r >= 0, r < h, s >= 0, s < w else { continue }
                                let base = ((b * h + r) * w + s) * c
                                if depthwise {
                                    sum += Double(x.data[base + o]) * Double(k.data[(p * kw + q) * c + o])
                                } else {
                                    for ch in 0..<c {
                                        sum += Double(x.data[base + ch]) * Double(k.data[((p * kw + q) * c + ch) * oc + o])
                                    }
                                }
                            }
                        }
                        y.data[((b * rows.output + i) * cols.output + j) * oc + o] = Float(sum)
                    }
                }
            }
        }
        return y
    }

    /// Max or average pooling; padded cells never count (Keras' rule for averages).
    static func pool(_ x: Tensor, size: (Int, Int), strides: (Int, Int), padding: Padding, average: Bool) -> Tensor {
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let rows = padding.geometry(input: h, kernel: size.0, stride: strides.0)
        let cols = padding.geometry(input: w, kernel: size.1, stride: strides.1)
        var y = Tensor(zeros: [n, rows.output, cols.output, c])
        for b in 0..<n {
            for i in 0..<rows.output {
                for j in 0..<cols.output {
                    for ch in 0..<c {
                        var best = -Float.infinity, sum: Float = 0, count = 0
                        for p in 0..<size.0 {
                            for q in 0..<size.1 {
                                let (r, s) = (i * strides.0 + p - rows.before, j * strides.1 + q - cols.before)
                                guard r >= 0, r < h, s >= 0, s < w else { continue }
                                let v = x.data[((b * h + r) * w + s) * c + ch]
                                best = max(best, v)
                                sum += v
                                count += 1
                            }
                        }
                        y.data[((b * rows.output + i) * cols.output + j) * c + ch] = average ? sum / Float(count) : best
                    }
                }
            }
        }
        return y
    }
}
