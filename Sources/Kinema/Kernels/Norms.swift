import Foundation

/// Normalisation layers over contiguous rows (token-major) or over channels (channel-first).
public enum Norm {
    /// LayerNorm over each row of [rows × dim]: (x − mean)/√(var + eps)·w + b, with w and b
    /// optional (non-affine when nil). `out` may equal `x`.
    public static func layerNorm(
        _ x: UnsafePointer<Float>, rows: Int, dim: Int,
        weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, eps: Float,
        out: UnsafeMutablePointer<Float>
    ) {
        guard dim > 0 else { return }
        Compute.parallelChunks(rows, minChunk: max(1, 4096 / dim)) { s, e in
            for r in s..<e {
                let src = x + r * dim, dst = out + r * dim
                let mean = rowSum(src, dim) / Float(dim)
                let variance = rowCenteredSquares(src, dim, mean) / Float(dim)
                let rstd = 1 / (variance + eps).squareRoot()
                for j in 0..<dim {
                    var y = (src[j] - mean) * rstd
                    if let weight { y *= weight[j] }
                    if let bias { y += bias[j] }
                    dst[j] = y
                }
            }
        }
    }

    /// T5-style RMSNorm over each row: x·rsqrt(mean(x²) + eps)·w. No mean subtraction, no bias.
    public static func rmsNorm(
        _ x: UnsafePointer<Float>, rows: Int, dim: Int,
        weight: UnsafePointer<Float>?, eps: Float,
        out: UnsafeMutablePointer<Float>
    ) {
        guard dim > 0 else { return }
        Compute.parallelChunks(rows, minChunk: max(1, 4096 / dim)) { s, e in
            for r in s..<e {
                let src = x + r * dim, dst = out + r * dim
                let ms = rowCenteredSquares(src, dim, 0) / Float(dim)
                let scale = 1 / (ms + eps).squareRoot()
                if let weight {
                    for j in 0..<dim { dst[j] = src[j] * scale * weight[j] }
                } else {
                    for j in 0..<dim { dst[j] = src[j] * scale }
                }
            }
        }
    }

    /// √C / max(‖x‖₂ over channels, 1e-12) for positions `start ..< start + count` of
    /// channel-first data, into `scales`: the per-position factor of the Wan-VAE RMS norm.
    @inline(__always)
    static func channelScales(
        _ x: UnsafePointer<Float>, channels: Int, positions: Int, from start: Int, count n: Int,
        into scales: UnsafeMutablePointer<Float>
    ) {
        let rootC = Float(channels).squareRoot()
        scales.update(repeating: 0, count: n)
        for c in 0..<channels {
            let row = x + c * positions + start
            for i in 0..<n { scales[i] += row[i] * row[i] }
        }
        for i in 0..<n { scales[i] = rootC / max(scales[i].squareRoot(), 1e-12) }
    }

    /// Wan-VAE RMS norm on channel-first data [channels × positions]: at every position,
    /// x / max(‖x‖₂ over channels, 1e-12) · √C · γ[c] (+ bias[c]). This is
    /// `F.normalize(x, dim=1) * C**0.5 * gamma + bias`.
    public static func channelRMSNorm(
        _ x: UnsafePointer<Float>, channels: Int, positions: Int,
        gamma: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        out: UnsafeMutablePointer<Float>
    ) {
        guard channels > 0, positions > 0 else { return }
        Compute.parallelChunks(positions, minChunk: 1024) { s, e in
            let n = e - s
            let inv = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { inv.deallocate() }
            channelScales(x, channels: channels, positions: positions, from: s, count: n, into: inv)
            for c in 0..<channels {
                let row = x + c * positions + s
                let dst = out + c * positions + s
                let g = gamma[c], b = bias?[c] ?? 0
                for i in 0..<n { dst[i] = row[i] * inv[i] * g + b }
            }
        }
    }

    /// `channelRMSNorm` without bias followed by SiLU (the pair that precedes every Wan VAE
    /// convolution), writing each value once instead of twice. `out` may equal `x`. Results
    /// match the two kernels run one after the other to a few ulps (exp is vectorised over
    /// different runs of elements).
    public static func channelRMSNormSiLU(
        _ x: UnsafePointer<Float>, channels: Int, positions: Int,
        gamma: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>
    ) {
        guard channels > 0, positions > 0 else { return }
        Compute.parallelChunks(positions, minChunk: 1024) { s, e in
            let n = e - s
            let inv = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { inv.deallocate() }
            channelScales(x, channels: channels, positions: positions, from: s, count: n, into: inv)
            for c in 0..<channels {
                let row = x + c * positions + s
                let dst = out + c * positions + s
                let g = gamma[c]
                var i = 0
                while i + vecWidth <= n {
                    let v = loadVec(row + i) * loadVec(inv + i) * g
                    storeVec(v / (1 + expVec(-v)), dst + i)
                    i += vecWidth
                }
                while i < n {
                    let v = row[i] * inv[i] * g
                    dst[i] = v / (1 + expf(-v))
                    i += 1
                }
            }
        }
    }

    @inline(__always)
    static func rowSum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = Vec(repeating: 0)
        var j = 0
        while j + vecWidth <= n { acc += loadVec(p + j); j += vecWidth }
        var s = acc.sum()
        while j < n { s += p[j]; j += 1 }
        return s
    }

    /// Σ (p[j] − mean)².
    @inline(__always)
    static func rowCenteredSquares(_ p: UnsafePointer<Float>, _ n: Int, _ mean: Float) -> Float {
        var acc = Vec(repeating: 0)
        let mv = Vec(repeating: mean)
        var j = 0
        while j + vecWidth <= n {
            let d = loadVec(p + j) - mv
            acc += d * d
            j += vecWidth
        }
        var s = acc.sum()
        while j < n { let d = p[j] - mean; s += d * d; j += 1 }
        return s
    }
}

// MARK: - Tensor conveniences

extension Tensor {
    /// LayerNorm over the last dimension.
    public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float) throws -> Tensor {
        let dim = shape.last ?? 0
        try Tensor.checkVector(weight, dim, "layerNorm weight")
        try Tensor.checkVector(bias, dim, "layerNorm bias")
        var out = Tensor(unchecked: shape, data: [Float](repeating: 0, count: count))
        let rows = dim == 0 ? 0 : count / dim
        data.withPointer { xp in
            (weight?.data).withOptionalPointer { wp in
                (bias?.data).withOptionalPointer { bp in
                    out.data.withMutablePointer { op in
                        Norm.layerNorm(xp, rows: rows, dim: dim, weight: wp, bias: bp, eps: eps, out: op)
                    }
                }
            }
        }
        return out
    }

    /// T5-style RMSNorm over the last dimension.
    public func rmsNorm(weight: Tensor?, eps: Float) throws -> Tensor {
        let dim = shape.last ?? 0
        try Tensor.checkVector(weight, dim, "rmsNorm weight")
        var out = Tensor(unchecked: shape, data: [Float](repeating: 0, count: count))
        let rows = dim == 0 ? 0 : count / dim
        data.withPointer { xp in
            (weight?.data).withOptionalPointer { wp in
                out.data.withMutablePointer { op in
                    Norm.rmsNorm(xp, rows: rows, dim: dim, weight: wp, eps: eps, out: op)
                }
            }
        }
        return out
    }

    /// Wan-VAE channel RMS norm; the tensor is channel-first [C, ...].
    public func channelRMSNorm(gamma: Tensor, bias: Tensor? = nil) throws -> Tensor {
        guard let channels = shape.first, channels > 0 else {
            throw KinemaError.shape("channelRMSNorm needs a channel-first tensor, got \(shape)")
        }
        try Tensor.checkVector(gamma, channels, "channelRMSNorm gamma")
        try Tensor.checkVector(bias, channels, "channelRMSNorm bias")
        var out = Tensor(unchecked: shape, data: [Float](repeating: 0, count: count))
        let positions = count / channels
        data.withPointer { xp in
            gamma.data.withPointer { gp in
                (bias?.data).withOptionalPointer { bp in
                    out.data.withMutablePointer { op in
                        Norm.channelRMSNorm(xp, channels: channels, positions: positions, gamma: gp, bias: bp, out: op)
                    }
                }
            }
        }
        return out
    }

    static func checkVector(_ t: Tensor?, _ n: Int, _ what: String) throws {
        if let t, t.count != n {
            throw KinemaError.shape("\(what) has \(t.count) values, expected \(n)")
        }
    }
}
