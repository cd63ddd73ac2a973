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

// MARK: - One frame at a time

/// Geometry of a 2D convolution over one frame (or one window of a frame) of a channel-first
/// feature map, for models that stream video frame by frame and keep their own temporal state.
///
/// The input is addressed through a *virtual* image of `inputHeight × inputWidth` pixels:
/// pixel (y, x) of channel c is `source[c·sourcePlaneStride + (y/upsample)·sourceRowStride +
/// x/upsample]`, so a window of a larger frame (pointer offset plus strides) and a nearest ×2
/// upsampled frame are read in place, without copies. Rows and columns outside the virtual
/// image read as zero. Output pixel (oy, ox) applies the kernel at virtual position
/// (oy·strideH − padTop, ox·strideW − padLeft); a negative pad starts the output inside the
/// input, which is how a tile computes only its own part of a larger output.
public struct FrameConvolution: Sendable, Equatable {
    public var inChannels: Int, outChannels: Int
    public var kernelHeight: Int, kernelWidth: Int
    public var strideHeight: Int = 1, strideWidth: Int = 1
    public var padTop: Int, padLeft: Int
    public var inputHeight: Int, inputWidth: Int
    public var outputHeight: Int, outputWidth: Int
    /// Nearest-neighbour upsampling applied while reading: 1 (none) or 2.
    public var upsample: Int = 1
    public var sourcePlaneStride: Int, sourceRowStride: Int

    public init(inChannels: Int, outChannels: Int, kernelHeight: Int, kernelWidth: Int,
                strideHeight: Int = 1, strideWidth: Int = 1, padTop: Int, padLeft: Int,
                inputHeight: Int, inputWidth: Int, outputHeight: Int, outputWidth: Int,
                upsample: Int = 1, sourcePlaneStride: Int, sourceRowStride: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight; self.strideWidth = strideWidth
        self.padTop = padTop; self.padLeft = padLeft
        self.inputHeight = inputHeight; self.inputWidth = inputWidth
        self.outputHeight = outputHeight; self.outputWidth = outputWidth
        self.upsample = upsample
        self.sourcePlaneStride = sourcePlaneStride; self.sourceRowStride = sourceRowStride
    }

    /// A "same" convolution (odd kernel, stride 1) of a contiguous [C, H, W] frame.
    public static func same(inChannels: Int, outChannels: Int, kernel: Int, height: Int, width: Int) -> FrameConvolution {
        FrameConvolution(inChannels: inChannels, outChannels: outChannels, kernelHeight: kernel, kernelWidth: kernel,
                         padTop: kernel / 2, padLeft: kernel / 2, inputHeight: height, inputWidth: width,
                         outputHeight: height, outputWidth: width,
                         sourcePlaneStride: height * width, sourceRowStride: width)
    }

    /// Rows of the column matrix: inChannels · kernelHeight · kernelWidth.
    public var columnLength: Int { inChannels * kernelHeight * kernelWidth }

    /// A 1×1 kernel over whole contiguous rows: the source is the column matrix.
    var readsSourceDirectly: Bool {
        kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1 && upsample == 1
            && padLeft == 0 && padTop <= 0 && inputWidth == outputWidth && sourceRowStride == outputWidth
            && outputHeight - padTop <= inputHeight
    }

    /// Nearest ×2 then 3×3 (stride 1) over an even-sized virtual image: computed as four 2×2
    /// convolutions of the source (`accumulateUpsampledFrame`).
    var isUpsampled3x3: Bool {
        upsample == 2 && kernelHeight == 3 && kernelWidth == 3 && strideHeight == 1 && strideWidth == 1
            && inputHeight % 2 == 0 && inputWidth % 2 == 0
    }

    /// Output rows per column band.
    var rowsPerBand: Int {
        max(1, min(outputHeight, Convolution.columnBudget / max(1, columnLength * outputWidth)))
    }

    func validate() throws {
        guard inChannels > 0, outChannels > 0, kernelHeight > 0, kernelWidth > 0,
              strideHeight > 0, strideWidth > 0, inputHeight >= 0, inputWidth >= 0,
              outputHeight >= 0, outputWidth >= 0, upsample == 1 || upsample == 2,
              sourceRowStride * upsample >= inputWidth, sourcePlaneStride >= 0 else {
            throw KinemaError.invalidArgument("frame convolution: invalid geometry \(self)")
        }
    }
}

extension Convolution {
    /// Accumulates `groups` convolutions of one input frame that share its column matrix:
    /// `outputs[g][Cout, outH, outW] += weights[g] · im2col(input)`, where `weights` holds the
    /// groups' matrices back to back, each [Cout, Cin·kh·kw] with the column index
    /// (c·kh + dy)·kw + dx (PyTorch's layout for one temporal tap). The outputs are contiguous
    /// and must be initialised by the caller (bias or earlier partial sums).
    ///
    /// Streaming causal 3D convolutions use several groups to add one input frame's
    /// contribution to the outputs of the frames t, t+1, t+2 at once: the columns are built
    /// once per input frame instead of once per temporal tap. Several groups are computed by
    /// one matrix product into a small band buffer and then added, which reads the columns
    /// only once.
    public static func accumulateFrame(
        input: UnsafePointer<Float>, geometry g: FrameConvolution,
        weights: UnsafePointer<Float>, outputs: [UnsafeMutablePointer<Float>]
    ) throws {
        try g.validate()
        let groups = outputs.count
        let cout = g.outChannels, ho = g.outputHeight, wo = g.outputWidth
        let plane = ho * wo, kLen = g.columnLength
        guard groups > 0, plane > 0 else { return }

        if g.isUpsampled3x3 {
            try accumulateUpsampledFrame(input: input, geometry: g, weights: weights, outputs: outputs)
            return
        }
        if g.readsSourceDirectly {
            let b = input + (-g.padTop) * wo
            for (i, out) in outputs.enumerated() {
                GEMM.sgemm(m: cout, n: plane, k: kLen, a: weights + i * cout * kLen, lda: kLen,
                           b: b, ldb: g.sourcePlaneStride, beta: 1, c: out, ldc: plane)
            }
            return
        }

        let rowsPerBand = g.rowsPerBand
        let bandCapacity = rowsPerBand * wo
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: kLen * bandCapacity)
        defer { columns.deallocate() }
        let products: UnsafeMutablePointer<Float>? = groups > 1
            ? UnsafeMutablePointer<Float>.allocate(capacity: groups * cout * bandCapacity) : nil
        defer { products?.deallocate() }

        var oy0 = 0
        while oy0 < ho {
            let nRows = min(rowsPerBand, ho - oy0)
            let n = nRows * wo
            fillColumns(input: input, geometry: g, firstRow: oy0, rows: nRows, into: columns)
            if let products {
                GEMM.sgemm(m: groups * cout, n: n, k: kLen, a: weights, lda: kLen, b: columns, ldb: n,
                           beta: 0, c: products, ldc: n)
                Compute.parallelChunks(groups * cout, minChunk: max(1, 16384 / n)) { s, e in
                    for row in s..<e {
                        let dst = outputs[row / cout] + (row % cout) * plane + oy0 * wo
                        let src = products + row * n
                        var i = 0
                        while i + vecWidth <= n {
                            storeVec(loadVec(dst + i) + loadVec(src + i), dst + i)
                            i += vecWidth
                        }
                        while i < n { dst[i] += src[i]; i += 1 }
                    }
                }
            } else {
                GEMM.sgemm(m: cout, n: n, k: kLen, a: weights, lda: kLen, b: columns, ldb: n,
                           beta: 1, c: outputs[0] + oy0 * wo, ldc: plane)
            }
            oy0 += nRows
        }
    }

    /// Nearest ×2 upsampling followed by a 3×3 convolution, without the ×2 image and with
    /// 4/9 of the products: output pixels of one row parity all read the same two source rows
    /// (an even virtual row 2y sees source rows y−1, y, y through taps 0, 1, 2, an odd one
    /// y, y, y+1), so each of the four parity classes is a 2×2 convolution of the source whose
    /// taps are sums of the 3×3 taps. Each class gets its own columns and product, which is
    /// then added into every second output pixel.
    static func accumulateUpsampledFrame(
        input: UnsafePointer<Float>, geometry g: FrameConvolution,
        weights: UnsafePointer<Float>, outputs: [UnsafeMutablePointer<Float>]
    ) throws {
        let groups = outputs.count, cout = g.outChannels, cin = g.inChannels
        let ho = g.outputHeight, wo = g.outputWidth, plane = ho * wo
        let sh = g.inputHeight / 2, sw = g.inputWidth / 2
        let kLen = cin * 4, rows = groups * cout
        // Which 3×3 taps fold into 2×2 tap t for parity e: e = 0 → {0}, {1, 2}; e = 1 → {0, 1}, {2}.
        let fold: [[[Int]]] = [[[0], [1, 2]], [[0, 1], [2]]]
        let phaseWeights = UnsafeMutablePointer<Float>.allocate(capacity: rows * kLen)
        defer { phaseWeights.deallocate() }
        // Rows of one parity class per band: within the column budget, and no more than exist.
        let budgetRows = min((ho + 1) / 2, max(1, columnBudget / max(1, kLen * ((wo + 1) / 2))))
        let bandCapacity = budgetRows * ((wo + 1) / 2)
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: kLen * bandCapacity)
        defer { columns.deallocate() }
        let products = UnsafeMutablePointer<Float>.allocate(capacity: rows * bandCapacity)
        defer { products.deallocate() }

        for ey in 0..<2 {
            // Output rows of this parity: (oy + 1 − padTop) ≡ ey (mod 2); their source row y.
            let oyFirst = ((ey - 1 + g.padTop) % 2 + 2) % 2
            let nR = ho > oyFirst ? (ho - oyFirst + 1) / 2 : 0
            let y0 = (oyFirst + 1 - g.padTop - ey) / 2
            for ex in 0..<2 {
                let oxFirst = ((ex - 1 + g.padLeft) % 2 + 2) % 2
                let nC = wo > oxFirst ? (wo - oxFirst + 1) / 2 : 0
                let x0 = (oxFirst + 1 - g.padLeft - ex) / 2
                guard nR > 0, nC > 0 else { continue }
                for r in 0..<rows {
                    for c in 0..<cin {
                        let w = weights + (r * cin + c) * 9
                        let dst = phaseWeights + r * kLen + c * 4
                        for t in 0..<2 {
                            for u in 0..<2 {
                                var sum: Float = 0
                                for dy in fold[ey][t] { for dx in fold[ex][u] { sum += w[dy * 3 + dx] } }
                                dst[t * 2 + u] = sum
                            }
                        }
                    }
                }
                let rowsPerBand = min(nR, max(1, bandCapacity / nC))
                var k0 = 0
                while k0 < nR {
                    let nk = min(rowsPerBand, nR - k0)
                    let n = nk * nC
                    // Column (c·2 + t)·2 + u, entry kl·nC + j: source pixel
                    // (y0 + k0 + kl − 1 + ey + t, x0 + j − 1 + ex + u), zero outside.
                    Compute.parallelChunks(cin * 2, minChunk: 1) { s, e in
                        for ct in s..<e {
                            let c = ct / 2, t = ct % 2
                            for u in 0..<2 {
                                let dst = columns + (ct * 2 + u) * n
                                let shift = x0 - 1 + ex + u
                                let lo = min(nC, max(0, -shift)), hi = max(lo, min(nC, sw - shift))
                                for kl in 0..<nk {
                                    let d = dst + kl * nC
                                    let sy = y0 + k0 + kl - 1 + ey + t
                                    guard sy >= 0 && sy < sh else {
                                        d.update(repeating: 0, count: nC)
                                        continue
                                    }
                                    let srow = input + c * g.sourcePlaneStride + sy * g.sourceRowStride
                                    if lo > 0 { d.update(repeating: 0, count: lo) }
                                    if hi < nC { (d + hi).update(repeating: 0, count: nC - hi) }
                                    if hi > lo { (d + lo).update(from: srow + lo + shift, count: hi - lo) }
                                }
                            }
                        }
                    }
                    GEMM.sgemm(m: rows, n: n, k: kLen, a: phaseWeights, lda: kLen, b: columns, ldb: n,
                               beta: 0, c: products, ldc: n)
                    Compute.parallelChunks(rows * nk, minChunk: max(1, 8192 / nC)) { s, e in
                        for rk in s..<e {
                            let r = rk / nk, kl = rk % nk
                            let oy = oyFirst + 2 * (k0 + kl)
                            let dst = outputs[r / cout] + (r % cout) * plane + oy * wo + oxFirst
                            let src = products + r * n + kl * nC
                            for j in 0..<nC { dst[2 * j] += src[j] }
                        }
                    }
                    k0 += nk
                }
            }
        }
    }

    /// Scratch bytes `accumulateFrame` allocates for `groups` outputs.
    static func scratchBytes(_ g: FrameConvolution, groups: Int) -> Int {
        if g.isUpsampled3x3 {
            let half = (g.outputWidth + 1) / 2, kLen = g.inChannels * 4
            let band = min((g.outputHeight + 1) / 2, max(1, columnBudget / max(1, kLen * half))) * half
            return (groups * g.outChannels * kLen + (kLen + groups * g.outChannels) * band) * MemoryLayout<Float>.stride
        }
        guard !g.readsSourceDirectly else { return 0 }
        let band = g.rowsPerBand * g.outputWidth
        return (g.columnLength + (groups > 1 ? groups * g.outChannels : 0)) * band * MemoryLayout<Float>.stride
    }

    /// Column matrix for output rows [firstRow, firstRow + rows): row (c·kh + dy)·kw + dx,
    /// column r·outW + ox holds virtual input pixel (oy·sh + dy − padTop, ox·sw + dx − padLeft).
    static func fillColumns(input: UnsafePointer<Float>, geometry g: FrameConvolution,
                            firstRow: Int, rows nRows: Int, into columns: UnsafeMutablePointer<Float>) {
        let wo = g.outputWidth, n = nRows * wo
        let kh = g.kernelHeight, kw = g.kernelWidth
        let up = g.upsample
        Compute.parallelChunks(g.inChannels * kh, minChunk: 1) { s, e in
            for cdy in s..<e {
                let c = cdy / kh, dy = cdy % kh
                let plane = input + c * g.sourcePlaneStride
                for dx in 0..<kw {
                    let dst = columns + (cdy * kw + dx) * n
                    // Output columns whose input column is inside the virtual image.
                    let shift = dx - g.padLeft
                    let lo: Int, hi: Int
                    if g.strideWidth == 1 {
                        lo = min(wo, max(0, -shift)); hi = max(lo, min(wo, g.inputWidth - shift))
                    } else {
                        lo = min(wo, max(0, (-shift + g.strideWidth - 1) / g.strideWidth))
                        hi = max(lo, min(wo, (g.inputWidth - shift + g.strideWidth - 1) / g.strideWidth))
                    }
                    for r in 0..<nRows {
                        let d = dst + r * wo
                        let iy = (firstRow + r) * g.strideHeight + dy - g.padTop
                        guard iy >= 0 && iy < g.inputHeight else {
                            d.update(repeating: 0, count: wo)
                            continue
                        }
                        let srow = plane + (iy / up) * g.sourceRowStride
                        if lo > 0 { d.update(repeating: 0, count: lo) }
                        if hi < wo { (d + hi).update(repeating: 0, count: wo - hi) }
                        guard hi > lo else { continue }
                        if g.strideWidth == 1 && up == 1 {
                            (d + lo).update(from: srow + lo + shift, count: hi - lo)
                        } else if g.strideWidth == 1 {
                            for ox in lo..<hi { d[ox] = srow[(ox + shift) >> 1] }
                        } else {
                            for ox in lo..<hi { d[ox] = srow[(ox * g.strideWidth + shift) / up] }
                        }
                    }
                }
            }
        }
    }
}
