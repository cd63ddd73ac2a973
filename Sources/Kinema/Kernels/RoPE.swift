/// Rotary position embedding with interleaved pairs: channels (2m, 2m+1) of each head form
/// the complex number x₂ₘ + i·x₂ₘ₊₁, multiplied by e^{iθ}. This is Wan's `rope_apply` and
/// diffusers' `WanRotaryPosEmbed` + `apply_rotary_emb`.
public enum RoPE {
    /// Rotates `x` in place. `x` holds `tokens` rows of `heads × headDim` values with row
    /// stride `rowStride`; `cos`/`sin` are [tokens × headDim/2] (the same angles for every head).
    public static func applyInterleaved(
        _ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, headDim: Int, rowStride: Int,
        cos: UnsafePointer<Float>, sin: UnsafePointer<Float>
    ) {
        let pairs = headDim / 2
        Compute.parallelChunks(tokens, minChunk: 64) { s, e in
            for t in s..<e {
                let c = cos + t * pairs, sn = sin + t * pairs
                for h in 0..<heads {
                    let p = x + t * rowStride + h * headDim
                    for m in 0..<pairs {
                        let a = p[2 * m], b = p[2 * m + 1]
                        p[2 * m] = a * c[m] - b * sn[m]
                        p[2 * m + 1] = a * sn[m] + b * c[m]
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// Interleaved RoPE on a [tokens, heads, headDim] tensor with [tokens, headDim/2] tables.
    public func rotaryInterleaved(cos: Tensor, sin: Tensor) throws -> Tensor {
        guard rank == 3, shape[2] % 2 == 0 else {
            throw KinemaError.shape("RoPE needs [tokens, heads, even headDim], got \(shape)")
        }
        let (tokens, heads, headDim) = (shape[0], shape[1], shape[2])
        guard cos.count == tokens * headDim / 2, sin.count == cos.count else {
            throw KinemaError.shape("RoPE tables \(cos.shape)/\(sin.shape) do not match \(shape)")
        }
        var out = self
        out.data.withMutablePointer { xp in
            cos.data.withPointer { cp in
                sin.data.withPointer { sp in
                    RoPE.applyInterleaved(xp, tokens: tokens, heads: heads, headDim: headDim,
                                          rowStride: heads * headDim, cos: cp, sin: sp)
                }
            }
        }
        return out
    }
}
