import Foundation

/// Geometry of a 3D convolution over one channel-first clip [C, T, H, W] (batch 1).
/// Padding is given per side so that causal temporal padding (front only) and the VAE's
/// right/bottom-only downsampling pad are expressed directly.
public struct Conv3dGeometry: Equatable, Sendable {
    public var inChannels: Int, outChannels: Int
    public var kernel: (t: Int, h: Int, w: Int)
    public var stride: (t: Int, h: Int, w: Int)
    public var padFront: Int, padBack: Int
    public var padTop: Int, padBottom: Int, padLeft: Int, padRight: Int

    public init(inChannels: Int, outChannels: Int, kernel: (Int, Int, Int), stride: (Int, Int, Int) = (1, 1, 1),
                padFront: Int = 0, padBack: Int = 0, padTop: Int = 0, padBottom: Int = 0,
                padLeft: Int = 0, padRight: Int = 0) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = (kernel.0, kernel.1, kernel.2); self.stride = (stride.0, stride.1, stride.2)
        self.padFront = padFront; self.padBack = padBack
        self.padTop = padTop; self.padBottom = padBottom; self.padLeft = padLeft; self.padRight = padRight
    }

    /// Wan's CausalConv3d: 2·pt zero frames in front (minus `cachedFrames` real ones that the
    /// caller prepends), none behind, symmetric spatial padding.
    public static func causal(inChannels: Int, outChannels: Int, kernel: (Int, Int, Int),
                              padding: (t: Int, h: Int, w: Int), cachedFrames: Int = 0) -> Conv3dGeometry {
        Conv3dGeometry(inChannels: inChannels, outChannels: outChannels, kernel: kernel,
                       padFront: max(0, 2 * padding.t - cachedFrames), padBack: 0,
                       padTop: padding.h, padBottom: padding.h, padLeft: padding.w, padRight: padding.w)
    }

    public static func == (a: Conv3dGeometry, b: Conv3dGeometry) -> Bool {
        a.inChannels == b.inChannels && a.outChannels == b.outChannels
            && a.kernel == b.kernel && a.stride == b.stride
            && a.padFront == b.padFront && a.padBack == b.padBack && a.padTop == b.padTop
            && a.padBottom == b.padBottom && a.padLeft == b.padLeft && a.padRight == b.padRight
    }

    /// Output (frames, height, width) for an input of the given size; throws when the
    /// configuration is impossible.
    public func outputSize(frames t: Int, height h: Int, width w: Int) throws -> (t: Int, h: Int, w: Int) {
        guard inChannels > 0, outChannels > 0, kernel.t > 0, kernel.h > 0, kernel.w > 0,
              stride.t > 0, stride.h > 0, stride.w > 0,
              min(padFront, padBack, padTop, padBottom, padLeft, padRight) >= 0 else {
            throw KinemaError.invalidArgument("conv3d: invalid geometry \(self)")
        }
        let pt = t + padFront + padBack - kernel.t, ph = h + padTop + padBottom - kernel.h
        let pw = w + padLeft + padRight - kernel.w
        guard pt >= 0, ph >= 0, pw >= 0 else {
            throw KinemaError.shape("conv3d: input \(t)×\(h)×\(w) is smaller than kernel \(kernel)")
        }
        return (pt / stride.t + 1, ph / stride.h + 1, pw / stride.w + 1)
    }
}

/// Convolutions as im2col + sgemm. The column matrix is built for one output frame and a band
/// of output rows at a time, so scratch memory stays bounded (about 16 MB) at any resolution.
public enum Convolution {
    static let columnBudget = 4 << 20  // floats in one column band

    /// out[Cout, T', H', W'] = conv(input[Cin, T, H, W], weight[Cout, Cin, kt, kh, kw]) + bias.
    public static func conv3d(
        input: UnsafePointer<Float>, frames t: Int, height h: Int, width w: Int,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        geometry g: Conv3dGeometry,
        out: UnsafeMutablePointer<Float>
    ) throws {
        let (to, ho, wo) = try g.outputSize(frames: t, height: h, width: w)
        let cin = g.inChannels, cout = g.outChannels
        let planeOut = ho * wo
        let frameStrideOut = to * planeOut
        let kSize = cin * g.kernel.t * g.kernel.h * g.kernel.w
        guard to > 0, planeOut > 0 else { return }

        // Bias first; the products accumulate into it.
        for co in 0..<cout {
            (out + co * frameStrideOut).update(repeating: bias?[co] ?? 0, count: frameStrideOut)
        }

        // 1×1×1, stride 1, no padding: a single product over every position.
        if g.kernel == (1, 1, 1) && g.stride == (1, 1, 1)
            && g.padFront == 0 && g.padBack == 0 && g.padTop == 0 && g.padLeft == 0
            && g.padBottom == 0 && g.padRight == 0 {
            GEMM.sgemm(m: cout, n: t * h * w, k: cin, a: weight, lda: cin, b: input, ldb: t * h * w,
                       beta: 1, c: out, ldc: t * h * w)
            return
        }

        let rowsPerBand = max(1, min(ho, columnBudget / max(1, kSize * wo)))
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: kSize * rowsPerBand * wo)
        defer { columns.deallocate() }
        let planeIn = h * w, frameStrideIn = t * planeIn

        for ot in 0..<to {
            var oy0 = 0
            while oy0 < ho {
                let nRows = min(rowsPerBand, ho - oy0)
                let n = nRows * wo
                // Column row index = ((c·kt + dt)·kh + dy)·kw + dx, matching the weight layout.
                Compute.parallelChunks(cin * g.kernel.t, minChunk: 1) { s, e in
                    for ct in s..<e {
                        let c = ct / g.kernel.t, dt = ct % g.kernel.t
                        let it = ot * g.stride.t + dt - g.padFront
                        for dy in 0..<g.kernel.h {
                            for dx in 0..<g.kernel.w {
                                let row = ((ct * g.kernel.h + dy) * g.kernel.w + dx)
                                let dst = columns + row * n
                                guard it >= 0 && it < t else {
                                    dst.update(repeating: 0, count: n)
                                    continue
                                }
                                let src = input + c * frameStrideIn + it * planeIn
                                for r in 0..<nRows {
                                    let iy = (oy0 + r) * g.stride.h + dy - g.padTop
                                    let d = dst + r * wo
                                    guard iy >= 0 && iy < h else {
                                        d.update(repeating: 0, count: wo)
                                        continue
                                    }
                                    let srow = src + iy * w
                                    if g.stride.w == 1 {
                                        // Contiguous copy with zero edges.
                                        let shift = dx - g.padLeft
                                        let lo = max(0, -shift), hi = min(wo, w - shift)
                                        if lo > 0 { d.update(repeating: 0, count: min(lo, wo)) }
                                        if hi > lo { (d + lo).update(from: srow + lo + shift, count: hi - lo) }
                                        if hi < wo { (d + max(hi, 0)).update(repeating: 0, count: wo - max(hi, 0)) }
                                    } else {
                                        for ox in 0..<wo {
                                            let ix = ox * g.stride.w + dx - g.padLeft
                                            d[ox] = (ix >= 0 && ix < w) ? srow[ix] : 0
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                GEMM.sgemm(m: cout, n: n, k: kSize, a: weight, lda: kSize, b: columns, ldb: n,
                           beta: 1, c: out + ot * planeOut + oy0 * wo, ldc: frameStrideOut)
                oy0 += nRows
            }
        }
    }
}

extension Tensor {
    /// 3D convolution of a channel-first clip [Cin, T, H, W] with weight [Cout, Cin, kt, kh, kw].
    public func conv3d(weight: Tensor, bias: Tensor?, geometry g: Conv3dGeometry) throws -> Tensor {
        guard rank == 4, shape[0] == g.inChannels else {
            throw KinemaError.shape("conv3d: input \(shape) does not have \(g.inChannels) channels as [C, T, H, W]")
        }
        guard weight.shape == [g.outChannels, g.inChannels, g.kernel.t, g.kernel.h, g.kernel.w] else {
            throw KinemaError.shape("conv3d: weight \(weight.shape) does not match geometry \(g)")
        }
        try Tensor.checkVector(bias, g.outChannels, "conv3d bias")
        let (to, ho, wo) = try g.outputSize(frames: shape[1], height: shape[2], width: shape[3])
        var out = Tensor(zeros: [g.outChannels, to, ho, wo])
        try data.withPointer { xp in
            try weight.data.withPointer { wp in
                try (bias?.data).withOptionalPointer { bp in
                    try out.data.withMutablePointer { op in
                        try Convolution.conv3d(input: xp, frames: shape[1], height: shape[2], width: shape[3],
                                               weight: wp, bias: bp, geometry: g, out: op)
                    }
                }
            }
        }
        return out
    }

    /// 2D convolution of [Cin, H, W] with weight [Cout, Cin, kh, kw]; symmetric or per-side padding.
    public func conv2d(weight: Tensor, bias: Tensor?, stride: Int = 1,
                       padding: (top: Int, bottom: Int, left: Int, right: Int)) throws -> Tensor {
        guard rank == 3, weight.rank == 4 else {
            throw KinemaError.shape("conv2d: input \(shape) / weight \(weight.shape) must be [C,H,W] / [O,C,kh,kw]")
        }
        let g = Conv3dGeometry(inChannels: weight.shape[1], outChannels: weight.shape[0],
                               kernel: (1, weight.shape[2], weight.shape[3]), stride: (1, stride, stride),
                               padTop: padding.top, padBottom: padding.bottom,
                               padLeft: padding.left, padRight: padding.right)
        let x4 = try reshaped([shape[0], 1, shape[1], shape[2]])
        let w5 = try weight.reshaped([weight.shape[0], weight.shape[1], 1, weight.shape[2], weight.shape[3]])
        let y = try x4.conv3d(weight: w5, bias: bias, geometry: g)
        return try y.reshaped([y.shape[0], y.shape[2], y.shape[3]])
    }
}
