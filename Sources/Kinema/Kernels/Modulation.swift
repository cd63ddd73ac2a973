import Foundation

/// Fused row kernels of adaLN-style diffusion transformers (Wan's DiT): modulated LayerNorm,
/// gated residual adds, and RMSNorm followed by interleaved RoPE on strided rows. Each is one
/// pass over memory where the unfused form would take two or three.
public enum Modulation {
    /// out = LayerNorm(x)·(1 + scale) + shift per row of [rows × dim], with a non-affine
    /// LayerNorm; `scale` and `shift` are [dim] vectors. `out` may equal `x`.
    public static func layerNorm(
        _ x: UnsafePointer<Float>, rows: Int, dim: Int,
        scale: UnsafePointer<Float>, shift: UnsafePointer<Float>, eps: Float,
        out: UnsafeMutablePointer<Float>
    ) {
        guard dim > 0 else { return }
        Compute.parallelChunks(rows, minChunk: max(1, 8192 / dim)) { s, e in
            for r in s..<e {
                let src = x + r * dim, dst = out + r * dim
                let mean = Norm.rowSum(src, dim) / Float(dim)
                let variance = Norm.rowCenteredSquares(src, dim, mean) / Float(dim)
                let rstd = 1 / (variance + eps).squareRoot()
                let mv = Vec(repeating: mean), rv = Vec(repeating: rstd), one = Vec(repeating: 1)
                var j = 0
                while j + vecWidth <= dim {
                    let y = (loadVec(src + j) - mv) * rv
                    storeVec(y * (one + loadVec(scale + j)) + loadVec(shift + j), dst + j)
                    j += vecWidth
                }
                while j < dim {
                    dst[j] = (src[j] - mean) * rstd * (1 + scale[j]) + shift[j]
                    j += 1
                }
            }
        }
    }

    /// x += gate ⊙ (y + bias) per row of [rows × dim]; `y` rows have stride `yStride`. A nil
    /// gate means 1, a nil bias 0.
    public static func addGated(
        _ x: UnsafeMutablePointer<Float>, rows: Int, dim: Int,
        _ y: UnsafePointer<Float>, yStride: Int,
        bias: UnsafePointer<Float>?, gate: UnsafePointer<Float>?
    ) {
        guard dim > 0 else { return }
        Compute.parallelChunks(rows, minChunk: max(1, 16384 / dim)) { s, e in
            for r in s..<e {
                let dst = x + r * dim, src = y + r * yStride
                var j = 0
                while j + vecWidth <= dim {
                    var v = loadVec(src + j)
                    if let bias { v += loadVec(bias + j) }
                    if let gate { v *= loadVec(gate + j) }
                    storeVec(loadVec(dst + j) + v, dst + j)
                    j += vecWidth
                }
                while j < dim {
                    var v = src[j]
                    if let bias { v += bias[j] }
                    if let gate { v *= gate[j] }
                    dst[j] += v
                    j += 1
                }
            }
        }
    }

    /// In place on `rows` rows of `dim` values (row stride `rowStride`): RMSNorm over the whole
    /// row, x·rsqrt(mean(x²) + eps)·w, then, when tables are given, interleaved RoPE on every
    /// head of `headDim` values with the row's [headDim/2] cos/sin (tables are [rows × headDim/2]).
    public static func rmsNormRotate(
        _ x: UnsafeMutablePointer<Float>, rows: Int, dim: Int, rowStride: Int,
        weight: UnsafePointer<Float>, eps: Float,
        headDim: Int, cos: UnsafePointer<Float>?, sin: UnsafePointer<Float>?
    ) {
        guard dim > 0 else { return }
        let pairs = headDim / 2
        let heads = headDim > 0 ? dim / headDim : 0
        Compute.parallelChunks(rows, minChunk: max(1, 8192 / dim)) { s, e in
            for r in s..<e {
                let p = x + r * rowStride
                let ms = Norm.rowCenteredSquares(p, dim, 0) / Float(dim)
                let inv = 1 / (ms + eps).squareRoot()
                let iv = Vec(repeating: inv)
                var j = 0
                while j + vecWidth <= dim {
                    storeVec(loadVec(p + j) * iv * loadVec(weight + j), p + j)
                    j += vecWidth
                }
                while j < dim { p[j] = p[j] * inv * weight[j]; j += 1 }
                guard let cos, let sin else { continue }
                let c = cos + r * pairs, sn = sin + r * pairs
                for h in 0..<heads {
                    let q = p + h * headDim
                    for m in 0..<pairs {
                        let a = q[2 * m], b = q[2 * m + 1]
                        q[2 * m] = a * c[m] - b * sn[m]
                        q[2 * m + 1] = a * sn[m] + b * c[m]
                    }
                }
            }
        }
    }
}
