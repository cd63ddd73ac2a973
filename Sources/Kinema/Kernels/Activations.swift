import Foundation

/// Elementwise activations, in place over a flat buffer, multi-threaded for large inputs.
public enum Activation {
    /// GELU with the tanh approximation ("gelu_pytorch_tanh", "gelu_new"):
    /// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    public static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        Compute.parallelChunks(count, minChunk: 1 << 15) { s, e in
            var i = s
            let c = Float(0.7978845608028654)  // √(2/π)
            while i + vecWidth <= e {
                let v = loadVec(x + i)
                let inner = c * (v + 0.044715 * v * v * v)
                storeVec(0.5 * v * (1 + tanhVec(inner)), x + i)
                i += vecWidth
            }
            while i < e {
                let v = x[i]
                x[i] = 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v)))
                i += 1
            }
        }
    }

    /// Exact GELU: 0.5·x·(1 + erf(x/√2)).
    public static func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
        Compute.parallelChunks(count, minChunk: 1 << 14) { s, e in
            for i in s..<e {
                let v = x[i]
                x[i] = 0.5 * v * (1 + erff(v * 0.7071067811865476))
            }
        }
    }

    /// SiLU (swish): x·σ(x) = x / (1 + e^{−x}).
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        Compute.parallelChunks(count, minChunk: 1 << 15) { s, e in
            var i = s
            while i + vecWidth <= e {
                let v = loadVec(x + i)
                storeVec(v / (1 + expVec(-v)), x + i)
                i += vecWidth
            }
            while i < e {
                let v = x[i]
                x[i] = v / (1 + expf(-v))
                i += 1
            }
        }
    }

    /// Softmax over each row of a [rows × cols] matrix, in place. Rows of −∞ become all zeros.
    public static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        guard cols > 0 else { return }
        Compute.parallelChunks(rows, minChunk: max(1, 8192 / cols)) { s, e in
            for r in s..<e { softmaxRow(x + r * cols, count: cols) }
        }
    }

    @inline(__always)
    static func softmaxRow(_ p: UnsafeMutablePointer<Float>, count n: Int) {
        var m = -Float.infinity
        for j in 0..<n { m = max(m, p[j]) }
        guard m > -Float.infinity else {
            p.update(repeating: 0, count: n)
            return
        }
        let total = expSubtractAndSum(p, count: n, subtract: m)
        let inv = 1 / total
        for j in 0..<n { p[j] *= inv }
    }

    /// p[j] = exp(p[j] − m); returns the sum. The shared inner loop of every softmax.
    @inline(__always)
    static func expSubtractAndSum(_ p: UnsafeMutablePointer<Float>, count n: Int, subtract m: Float) -> Float {
        var acc = Vec(repeating: 0)
        var j = 0
        let mv = Vec(repeating: m)
        while j + vecWidth <= n {
            let e = expVec(loadVec(p + j) - mv)
            storeVec(e, p + j)
            acc += e
            j += vecWidth
        }
        var total = acc.sum()
        while j < n {
            let e = expf(p[j] - m)
            p[j] = e
            total += e
            j += 1
        }
        return total
    }
}

// MARK: - Tensor conveniences

extension Tensor {
    public func geluTanh() -> Tensor { applying(Activation.geluTanh) }
    public func geluErf() -> Tensor { applying(Activation.geluErf) }
    public func silu() -> Tensor { applying(Activation.silu) }

    /// Softmax over the last dimension.
    public func softmaxLastDim() -> Tensor {
        var out = self
        let cols = shape.last ?? 1
        let rows = cols == 0 ? 0 : count / cols
        out.data.withMutablePointer { Activation.softmaxRows($0, rows: rows, cols: cols) }
        return out
    }

    private func applying(_ f: (UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        var out = self
        let n = out.count
        out.data.withMutablePointer { f($0, n) }
        return out
    }
}
