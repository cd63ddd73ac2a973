/// Spatial resampling of channel-first planes: nearest ×2 upsampling and pixel (un)shuffle.
public enum Resample {
    /// Nearest ×2 in height and width for `planes` planes of h×w (each pixel becomes a 2×2
    /// block; for a factor of 2 "nearest" and "nearest-exact" agree).
    public static func upsampleNearest2x(_ x: UnsafePointer<Float>, planes: Int, height h: Int, width w: Int,
                                         out: UnsafeMutablePointer<Float>) {
        let w2 = 2 * w
        Compute.parallelChunks(planes * h, minChunk: 64) { s, e in
            for pr in s..<e {
                let p = pr / h, y = pr % h
                let src = x + pr * w
                let dst = out + p * (4 * h * w) + (2 * y) * w2
                for i in 0..<w {
                    let v = src[i]
                    dst[2 * i] = v
                    dst[2 * i + 1] = v
                }
                (dst + w2).update(from: dst, count: w2)
            }
        }
    }

    /// PyTorch `pixel_unshuffle`: [C, H, W] → [C·r², H/r, W/r], channel c·r² + i·r + j takes
    /// pixel (y·r + i, x·r + j).
    public static func pixelUnshuffle(_ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                                      factor r: Int, out: UnsafeMutablePointer<Float>) {
        let ho = h / r, wo = w / r
        for ch in 0..<c {
            for i in 0..<r {
                for j in 0..<r {
                    let dst = out + ((ch * r + i) * r + j) * ho * wo
                    for y in 0..<ho {
                        for xx in 0..<wo { dst[y * wo + xx] = x[ch * h * w + (y * r + i) * w + xx * r + j] }
                    }
                }
            }
        }
    }

    /// PyTorch `pixel_shuffle`: [C·r², H, W] → [C, H·r, W·r], the inverse of `pixelUnshuffle`.
    public static func pixelShuffle(_ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                                    factor r: Int, out: UnsafeMutablePointer<Float>) {
        let ho = h * r, wo = w * r
        for ch in 0..<c {
            for i in 0..<r {
                for j in 0..<r {
                    let src = x + ((ch * r + i) * r + j) * h * w
                    for y in 0..<h {
                        for xx in 0..<w { out[ch * ho * wo + (y * r + i) * wo + xx * r + j] = src[y * w + xx] }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// Nearest ×2 over the last two dimensions (any leading dimensions).
    public func upsampleNearest2x() throws -> Tensor {
        guard rank >= 2 else { throw KinemaError.shape("upsample needs at least [H, W], got \(shape)") }
        let h = shape[rank - 2], w = shape[rank - 1]
        let planes = h * w == 0 ? 0 : count / (h * w)
        var outShape = shape
        outShape[rank - 2] = 2 * h
        outShape[rank - 1] = 2 * w
        var out = Tensor(zeros: outShape)
        data.withPointer { xp in
            out.data.withMutablePointer { op in
                Resample.upsampleNearest2x(xp, planes: planes, height: h, width: w, out: op)
            }
        }
        return out
    }

    /// `pixel_unshuffle` of a [C, H, W] tensor by `factor`.
    public func pixelUnshuffle(_ factor: Int) throws -> Tensor {
        guard rank == 3, factor > 0, shape[1] % factor == 0, shape[2] % factor == 0 else {
            throw KinemaError.shape("pixelUnshuffle(\(factor)) needs [C, H, W] divisible by the factor, got \(shape)")
        }
        var out = Tensor(zeros: [shape[0] * factor * factor, shape[1] / factor, shape[2] / factor])
        data.withPointer { xp in
            out.data.withMutablePointer { op in
                Resample.pixelUnshuffle(xp, channels: shape[0], height: shape[1], width: shape[2], factor: factor, out: op)
            }
        }
        return out
    }

    /// `pixel_shuffle` of a [C·r², H, W] tensor by `factor` r.
    public func pixelShuffle(_ factor: Int) throws -> Tensor {
        guard rank == 3, factor > 0, shape[0] % (factor * factor) == 0 else {
            throw KinemaError.shape("pixelShuffle(\(factor)) needs [C·r², H, W], got \(shape)")
        }
        var out = Tensor(zeros: [shape[0] / (factor * factor), shape[1] * factor, shape[2] * factor])
        data.withPointer { xp in
            out.data.withMutablePointer { op in
                Resample.pixelShuffle(xp, channels: shape[0] / (factor * factor), height: shape[1], width: shape[2],
                                      factor: factor, out: op)
            }
        }
        return out
    }
}
