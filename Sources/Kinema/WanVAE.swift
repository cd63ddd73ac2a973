// Wan2.1 video VAE, following huggingface/diffusers models/autoencoders/autoencoder_kl_wan.py
// (AutoencoderKLWan; same network as Wan-Video/Wan2.1 wan/modules/vae.py).
//
// The reference runs its causal network on chunks (decoder: one latent frame; encoder: pixel
// frames 1, 4, 4, …) with a cache of the last two input frames per causal convolution. Every
// layer is causal in time, so the same numbers come out of pushing ONE frame at a time through
// the whole network, depth first: memory then holds a fixed set of per-layer states plus a
// few frames in flight, whatever the length of the video. Each stage below keeps its own state:
//
//  - a 3×3×3 causal convolution keeps either its last two input frames, or (when it has no
//    more output than input channels) the partial sums of its next two outputs: the
//    contribution of an input frame to outputs t, t+1 and t+2 is then computed in one pass
//    over that frame;
//  - `upsample3d` skips its time convolution on the first frame and starts it, with zero
//    history, at the second (the reference's "Rep" cache rule); afterwards every input frame
//    becomes two output frames;
//  - `downsample3d` passes its first frame through and then convolves windows
//    (last, a, b) with stride 2, as the reference does chunk by chunk.
//
// Spatially, every stage works on a rectangle of its frame. Decoding the whole frame uses the
// full rectangles; a tile uses the rectangles its output needs, grown by each convolution's
// reach (only the per-frame attention of the mid block needs whole frames, and it runs at
// latent resolution). Tiles therefore reproduce the untiled result up to float rounding and
// need no blending.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Regions and feature maps

/// Pixels [top, bottom) × [left, right) of a frame.
struct PixelRegion: Equatable, Sendable, CustomStringConvertible {
    var top: Int, left: Int, bottom: Int, right: Int

    var height: Int { bottom - top }
    var width: Int { right - left }
    var area: Int { height * width }
    var description: String { "rows \(top)..<\(bottom) × cols \(left)..<\(right)" }

    static func full(_ size: FrameSize) -> PixelRegion {
        PixelRegion(top: 0, left: 0, bottom: size.height, right: size.width)
    }

    /// Grown by `r` pixels on every side, clipped to the frame.
    func grown(by r: Int, within size: FrameSize) -> PixelRegion {
        PixelRegion(top: max(0, top - r), left: max(0, left - r),
                    bottom: min(size.height, bottom + r), right: min(size.width, right + r))
    }
}

struct FrameSize: Equatable, Sendable {
    var height: Int, width: Int
}

/// One frame of a channel-first feature map [channels, height, width]. A frame has one owner
/// at a time: a stage may overwrite the frames it is handed, or free their storage once it is
/// done with them (`discard`), and a stage that keeps a frame it was handed (as history)
/// never hands it on.
///
/// Frames of a megabyte or more are mapped straight from the system and unmapped when freed,
/// so that memory goes back at once: through malloc, frames of every size allocated and freed
/// in turn fragment the heap, and the resident size creeps up over a long video.
final class FeatureMap {
    let channels: Int, height: Int, width: Int
    let data: UnsafeMutablePointer<Float>
    private let mappedBytes: Int
    private var discarded = false

    static let mapThreshold = 1 << 20

    /// Uninitialised storage; sizes come from validated configurations and inputs. Throws
    /// `.outOfMemory` when the system has no memory for it.
    init(channels: Int, height: Int, width: Int) throws {
        self.channels = channels; self.height = height; self.width = width
        let (plane, o0) = height.multipliedReportingOverflow(by: width)
        let (count, o1) = channels.multipliedReportingOverflow(by: plane)
        let (bytes, o2) = max(1, count).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard !o0, !o1, !o2 else { throw KinemaError(.outOfMemory, "feature map \(channels)×\(height)×\(width) is too large") }
        if bytes >= FeatureMap.mapThreshold {
            let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let p, p != MAP_FAILED else {
                throw KinemaError(.outOfMemory, "cannot map \(bytes >> 20) MiB for a \(channels)×\(height)×\(width) feature map")
            }
            data = p.bindMemory(to: Float.self, capacity: max(1, count))
            mappedBytes = bytes
        } else {
            data = .allocate(capacity: max(1, count))
            mappedBytes = 0
        }
    }

    deinit { discard() }

    /// Frees the storage before the object goes away (its owner still holds the reference
    /// while a stage runs); `data` must not be used afterwards.
    func discard() {
        guard !discarded else { return }
        discarded = true
        if mappedBytes > 0 { munmap(UnsafeMutableRawPointer(data), mappedBytes) } else { data.deallocate() }
    }

    var plane: Int { height * width }
    var count: Int { channels * plane }

    /// A frame whose channel c holds `values[c]` everywhere.
    static func filled(channels: Int, height: Int, width: Int, values: [Float]) throws -> FeatureMap {
        let f = try FeatureMap(channels: channels, height: height, width: width)
        let plane = f.plane
        for c in 0..<channels { (f.data + c * plane).update(repeating: values[c], count: plane) }
        return f
    }

    func copy() throws -> FeatureMap {
        let f = try FeatureMap(channels: channels, height: height, width: width)
        f.data.update(from: data, count: count)
        return f
    }
}

/// In place: Wan's channel RMS norm (x / ‖x‖ · √C · γ), then SiLU.
func normalizeAndActivate(_ x: FeatureMap, gamma: [Float]) {
    gamma.withPointer { g in
        Norm.channelRMSNormSiLU(x.data, channels: x.channels, positions: x.plane, gamma: g, out: x.data)
    }
}

/// Bytes of `count` floats.
@inline(__always) func floatBytes(_ count: Int) -> Int { count * MemoryLayout<Float>.stride }

// MARK: - Causal convolution state

/// A causal 3D convolution (Wan's CausalConv3d: 2·pt zero frames in front, none behind) fed
/// one frame at a time, mapping an input rectangle to an output rectangle.
final class StreamingCausalConv {
    let weights: VAEConvWeights
    let geometry: FrameConvolution
    let output: PixelRegion
    /// Partial sums of the next outputs instead of past inputs (fewer bytes when the
    /// convolution has no more output than input channels, and one column pass per frame).
    let keepsPartialSums: Bool
    private let fillValues: [Float]
    /// Input-history mode: the last kt − 1 input frames, oldest first.
    private var history: [FeatureMap] = []
    /// Outputs t, t+1, … under construction (partial-sum mode), or the next output (history mode).
    private var pending: [FeatureMap] = []

    /// `fillValues` replaces the bias as the starting value of every output (a residual block
    /// folds its shortcut's bias in).
    init(_ weights: VAEConvWeights, input: PixelRegion, output: PixelRegion, fillValues: [Float]? = nil) {
        self.weights = weights
        self.output = output
        geometry = FrameConvolution(
            inChannels: weights.inChannels, outChannels: weights.outChannels,
            kernelHeight: weights.kernel.h, kernelWidth: weights.kernel.w,
            padTop: weights.padding.h + input.top - output.top, padLeft: weights.padding.w + input.left - output.left,
            inputHeight: input.height, inputWidth: input.width,
            outputHeight: output.height, outputWidth: output.width,
            sourcePlaneStride: input.area, sourceRowStride: input.width)
        keepsPartialSums = weights.kernel.t > 1 && weights.outChannels <= weights.inChannels
        self.fillValues = fillValues ?? weights.bias
    }

    private func newOutput() throws -> FeatureMap {
        try FeatureMap.filled(channels: weights.outChannels, height: output.height, width: output.width, values: fillValues)
    }

    /// The frame the next `push` returns, so a caller can add into it beforehand.
    func nextOutput() throws -> FeatureMap {
        if pending.isEmpty { pending.append(try newOutput()) }
        return pending[0]
    }

    /// Consumes input frame t (not modified, possibly kept) and returns output frame t. After
    /// the last frame no partial sums of later outputs are started.
    func push(_ x: FeatureMap, isLast: Bool) throws -> FeatureMap {
        let kt = weights.kernel.t
        if keepsPartialSums {
            let groups = isLast ? 1 : kt
            while pending.count < groups { pending.append(try newOutput()) }
            let outputs = pending.prefix(groups).map { $0.data }
            try weights.taps.withPointer { taps in
                try Convolution.accumulateFrame(input: x.data, geometry: geometry, weights: taps, outputs: outputs)
            }
            return pending.removeFirst()
        }
        let out = try nextOutput()
        pending.removeAll()
        let frames = history + [x]
        for (j, frame) in frames.enumerated() {
            let dt = kt - frames.count + j
            try weights.taps.withPointer { taps in
                try Convolution.accumulateFrame(input: frame.data, geometry: geometry,
                                                weights: taps + weights.tapOffset(dt), outputs: [out.data])
            }
        }
        history = kt > 1 ? Array(frames.suffix(kt - 1)) : []
        return out
    }

    /// Whether pushed frames are kept (as history) after `push` returns.
    var retainsInput: Bool { !keepsPartialSums && weights.kernel.t > 1 }

    /// Bytes kept between frames.
    var persistentBytes: Int {
        let kept = weights.kernel.t - 1
        return keepsPartialSums ? floatBytes(kept * weights.outChannels * output.area)
            : floatBytes(kept * weights.inChannels * geometry.inputHeight * geometry.inputWidth)
    }

    /// Bytes allocated while a frame goes through: a new output and the column scratch.
    var workingBytes: Int {
        let groups = keepsPartialSums ? weights.kernel.t : 1
        return floatBytes(weights.outChannels * output.area) + Convolution.scratchBytes(geometry, groups: groups)
    }
}

// MARK: - Stages

protocol VAEStage: AnyObject {
    /// Consumes one frame and returns the frames it completes (none, one or two). `isLast`
    /// marks the stream's final frame; nothing is pushed after it.
    func push(_ x: FeatureMap, isLast: Bool) throws -> [FeatureMap]
    /// Bytes kept between frames.
    var persistentBytes: Int { get }
    /// Most bytes allocated while one frame goes through, including the frame handed in.
    var workingBytes: Int { get }
}

/// A bare causal convolution (post_quant_conv, conv_in, quant_conv).
final class ConvolutionStage: VAEStage {
    let conv: StreamingCausalConv
    let inputBytes: Int

    init(_ w: VAEConvWeights, input: PixelRegion, output: PixelRegion) {
        conv = StreamingCausalConv(w, input: input, output: output)
        inputBytes = floatBytes(w.inChannels * input.area)
    }

    func push(_ x: FeatureMap, isLast: Bool) throws -> [FeatureMap] {
        let y = try conv.push(x, isLast: isLast)
        if !conv.retainsInput { x.discard() }
        return [y]
    }
    var persistentBytes: Int { conv.persistentBytes }
    var workingBytes: Int { inputBytes + conv.workingBytes }
}

/// Wan's residual block: RMS norm → SiLU → conv 3³ → RMS norm → SiLU → conv 3³, plus the input
/// (through a 1×1×1 convolution when the width changes).
final class ResidualStage: VAEStage {
    let w: VAEResidualWeights
    let conv1: StreamingCausalConv, conv2: StreamingCausalConv
    let input: PixelRegion, output: PixelRegion
    let shortcut: FrameConvolution?

    init(_ w: VAEResidualWeights, input: PixelRegion, output: PixelRegion, frame: FrameSize) {
        self.w = w
        self.input = input
        self.output = output
        let middle = output.grown(by: 1, within: frame)
        conv1 = StreamingCausalConv(w.conv1, input: input, output: middle)
        conv2 = StreamingCausalConv(w.conv2, input: middle, output: output,
                                    fillValues: w.shortcut.map { zip(w.conv2.bias, $0.bias).map { $0 + $1 } })
        shortcut = w.shortcut.map { sc in
            FrameConvolution(inChannels: sc.inChannels, outChannels: sc.outChannels, kernelHeight: 1, kernelWidth: 1,
                             padTop: input.top - output.top, padLeft: input.left - output.left,
                             inputHeight: input.height, inputWidth: input.width,
                             outputHeight: output.height, outputWidth: output.width,
                             sourcePlaneStride: input.area, sourceRowStride: input.width)
        }
    }

    func push(_ x: FeatureMap, isLast: Bool) throws -> [FeatureMap] {
        // The shortcut goes straight into the output under construction, so x can then be
        // normalised in place.
        let out = try conv2.nextOutput()
        if let sc = w.shortcut, let shortcut {
            try sc.taps.withPointer { taps in
                try Convolution.accumulateFrame(input: x.data, geometry: shortcut, weights: taps, outputs: [out.data])
            }
        } else {
            addWindow(of: x, at: input, into: out, at: output)
        }
        normalizeAndActivate(x, gamma: w.norm1)
        let y = try conv1.push(x, isLast: isLast)
        if !conv1.retainsInput { x.discard() }
        normalizeAndActivate(y, gamma: w.norm2)
        return [try conv2.push(y, isLast: isLast)]
    }

    var persistentBytes: Int { conv1.persistentBytes + conv2.persistentBytes }
    /// conv1 runs beside its input; conv2 beside conv1's output (the input is freed by then,
    /// or kept as conv1's history, which `persistentBytes` counts).
    var workingBytes: Int {
        max(floatBytes(w.conv1.inChannels * input.area) + conv1.workingBytes,
            floatBytes(w.conv1.outChannels * conv1.output.area) + conv2.workingBytes)
    }
}

/// out += the part of x that covers out's rectangle (both channel-first, same channel count).
func addWindow(of x: FeatureMap, at xRegion: PixelRegion, into out: FeatureMap, at outRegion: PixelRegion) {
    let dy = outRegion.top - xRegion.top, dx = outRegion.left - xRegion.left
    let oh = outRegion.height, ow = outRegion.width
    let xPlane = x.plane, xw = x.width, oPlane = out.plane
    Compute.parallelChunks(out.channels * oh, minChunk: max(1, 4096 / max(ow, 1))) { s, e in
        for cr in s..<e {
            let c = cr / oh, r = cr % oh
            let src = x.data + c * xPlane + (r + dy) * xw + dx
            let dst = out.data + c * oPlane + r * ow
            for i in 0..<ow { dst[i] += src[i] }
        }
    }
}

/// Copies a rectangle of x (at xRegion) into a new frame.
func window(of x: FeatureMap, at xRegion: PixelRegion, _ region: PixelRegion) throws -> FeatureMap {
    let out = try FeatureMap(channels: x.channels, height: region.height, width: region.width)
    let dy = region.top - xRegion.top, dx = region.left - xRegion.left
    for c in 0..<x.channels {
        for r in 0..<region.height {
            (out.data + c * out.plane + r * region.width)
                .update(from: x.data + c * x.plane + (r + dy) * x.width + dx, count: region.width)
        }
    }
    return out
}

/// Wan's mid-block attention: per frame, single-head self-attention over all positions.
final class AttentionStage: VAEStage {
    let w: VAEAttentionWeights
    let frame: PixelRegion, output: PixelRegion

    init(_ w: VAEAttentionWeights, frame: FrameSize, output: PixelRegion) {
        self.w = w
        self.frame = .full(frame)
        self.output = output
    }

    func push(_ x: FeatureMap, isLast: Bool) throws -> [FeatureMap] {
        let c = w.channels, p = x.plane
        // qkv[position, 0..<3C] (token-major): q, k and v are strided column blocks of it.
        let qkv = UnsafeMutablePointer<Float>.allocate(capacity: max(1, p * 3 * c))
        defer { qkv.deallocate() }
        do {
            let normed = try FeatureMap(channels: c, height: x.height, width: x.width)
            w.norm.withPointer { g in
                Norm.channelRMSNorm(x.data, channels: c, positions: p, gamma: g, bias: nil, out: normed.data)
            }
            w.qkvBias.withPointer { b in
                for i in 0..<p { (qkv + i * 3 * c).update(from: b, count: 3 * c) }
            }
            w.qkvWeight.withPointer { wq in
                GEMM.sgemm(transA: true, transB: true, m: p, n: 3 * c, k: c, a: normed.data, lda: p,
                           b: wq, ldb: c, beta: 1, c: qkv, ldc: 3 * c)
            }
        }
        let attended = UnsafeMutablePointer<Float>.allocate(capacity: max(1, p * c))
        defer { attended.deallocate() }
        Attention.multiHead(q: qkv, qStride: 3 * c, k: qkv + c, kStride: 3 * c, v: qkv + 2 * c, vStride: 3 * c,
                            out: attended, outStride: c, queries: p, keys: p, heads: 1, headDim: c,
                            scale: 1 / Float(c).squareRoot())
        // x += proj(attended) + bias, channel-first.
        w.projWeight.withPointer { wp in
            GEMM.sgemm(transB: true, m: c, n: p, k: c, a: wp, lda: c, b: attended, ldb: c, beta: 1, c: x.data, ldc: p)
        }
        for ch in 0..<c {
            let b = w.projBias[ch], row = x.data + ch * p
            for i in 0..<p { row[i] += b }
        }
        guard output != frame else { return [x] }
        let cropped = try window(of: x, at: frame, output)
        x.discard()
        return [cropped]
    }

    var persistentBytes: Int { 0 }
    var workingBytes: Int { floatBytes(w.channels * frame.area * 6) }
}

/// Wan's upsample2d / upsample3d: (upsample3d: causal time convolution C → 2C whose halves
/// become two frames) then, per frame, nearest ×2 and a 3×3 convolution C → C/2. The ×2 is
/// read on the fly by the convolution.
final class UpsampleStage: VAEStage {
    let w: VAEResampleWeights
    let timeConv: StreamingCausalConv?
    let spatial: FrameConvolution
    let input: PixelRegion, output: PixelRegion
    private var framesSeen = 0

    init(_ w: VAEResampleWeights, input: PixelRegion, output: PixelRegion) {
        self.w = w
        self.input = input
        self.output = output
        timeConv = w.timeConv.map { StreamingCausalConv($0, input: input, output: input) }
        spatial = FrameConvolution(
            inChannels: w.conv.inChannels, outChannels: w.conv.outChannels, kernelHeight: 3, kernelWidth: 3,
            padTop: 1 + 2 * input.top - output.top, padLeft: 1 + 2 * input.left - output.left,
            inputHeight: 2 * input.height, inputWidth: 2 * input.width,
            outputHeight: output.height, outputWidth: output.width, upsample: 2,
            sourcePlaneStride: input.area, sourceRowStride: input.width)
    }

    private func spatialPass(_ source: UnsafePointer<Float>) throws -> FeatureMap {
        let out = try FeatureMap.filled(channels: w.conv.outChannels, height: output.height, width: output.width,
                                    values: w.conv.bias)
        try w.conv.taps.withPointer { taps in
            try Convolution.accumulateFrame(input: source, geometry: spatial, weights: taps, outputs: [out.data])
        }
        return out
    }

    func push(_ x: FeatureMap, isLast: Bool) throws -> [FeatureMap] {
        defer { framesSeen += 1 }
        // The first frame skips the time convolution, which then starts with zero history.
        guard let timeConv, framesSeen > 0 else {
            let out = try spatialPass(x.data)
            x.discard()
            return [out]
        }
        let y = try timeConv.push(x, isLast: isLast)
        let half = w.conv.inChannels * input.area
        return [try spatialPass(y.data), try spatialPass(y.data + half)]
    }

    var persistentBytes: Int { timeConv?.persistentBytes ?? 0 }
    var workingBytes: Int {
        let outFrame = floatBytes(w.conv.outChannels * output.area)
        return floatBytes(w.conv.inChannels * input.area) + (timeConv?.workingBytes ?? 0) + 2 * outFrame
            + Convolution.scratchBytes(spatial, groups: 1)
    }

    /// Bytes of the second frame of a pair, waiting while the first one travels on.
    var waitingBytes: Int { timeConv == nil ? 0 : floatBytes(w.conv.outChannels * output.area) }
}

/// Wan's downsample2d / downsample3d (encoder, whole frames): zero pad right and bottom, 3×3
/// convolution with stride 2; downsample3d then passes its first frame through and convolves
/// every later pair with the frame before it, (last, a, b) → one frame (stride 2 in time).
final class DownsampleStage: VAEStage {
    let w: VAEResampleWeights
    let spatial: FrameConvolution
    let input: PixelRegion, output: PixelRegion
    private var framesSeen = 0
    private var last: FeatureMap?
    private var waiting: FeatureMap?

    init(_ w: VAEResampleWeights, input: PixelRegion, output: PixelRegion) {
        self.w = w
        self.input = input
        self.output = output
        spatial = FrameConvolution(
            inChannels: w.conv.inChannels, outChannels: w.conv.outChannels, kernelHeight: 3, kernelWidth: 3,
            strideHeight: 2, strideWidth: 2, padTop: input.top - 2 * output.top, padLeft: input.left - 2 * output.left,
            inputHeight: input.height, inputWidth: input.width, outputHeight: output.height, outputWidth: output.width,
            sourcePlaneStride: input.area, sourceRowStride: input.width)
    }

    func push(_ x: FeatureMap, isLast: Bool) throws -> [FeatureMap] {
        let s = try FeatureMap.filled(channels: w.conv.outChannels, height: output.height, width: output.width,
                                  values: w.conv.bias)
        try w.conv.taps.withPointer { taps in
            try Convolution.accumulateFrame(input: x.data, geometry: spatial, weights: taps, outputs: [s.data])
        }
        x.discard()
        guard let time = w.timeConv else { return [s] }
        defer { framesSeen += 1 }
        if framesSeen == 0 {
            last = try s.copy()
            return [s]
        }
        guard let first = waiting else {
            waiting = s
            return []
        }
        let out = try FeatureMap.filled(channels: time.outChannels, height: output.height, width: output.width,
                                    values: time.bias)
        let frames = [last, first, s]
        let plain = FrameConvolution(inChannels: time.inChannels, outChannels: time.outChannels, kernelHeight: 1,
                                     kernelWidth: 1, padTop: 0, padLeft: 0,
                                     inputHeight: output.height, inputWidth: output.width,
                                     outputHeight: output.height, outputWidth: output.width,
                                     sourcePlaneStride: output.area, sourceRowStride: output.width)
        for (dt, frame) in frames.enumerated() {
            guard let frame else { continue }
            try time.taps.withPointer { taps in
                try Convolution.accumulateFrame(input: frame.data, geometry: plain, weights: taps + time.tapOffset(dt),
                                                outputs: [out.data])
            }
        }
        last = s
        waiting = nil
        return [out]
    }

    var persistentBytes: Int { floatBytes(2 * w.conv.outChannels * output.area) }
    var workingBytes: Int {
        floatBytes(w.conv.inChannels * input.area + 2 * w.conv.outChannels * output.area)
            + Convolution.scratchBytes(spatial, groups: 1)
    }
}

/// RMS norm → SiLU → causal conv 3³ (the encoder's and decoder's head).
final class HeadStage: VAEStage {
    let gamma: [Float]
    let conv: StreamingCausalConv
    let inputBytes: Int

    init(gamma: [Float], conv w: VAEConvWeights, input: PixelRegion, output: PixelRegion) {
        self.gamma = gamma
        conv = StreamingCausalConv(w, input: input, output: output)
        inputBytes = floatBytes(w.inChannels * input.area)
    }

    func push(_ x: FeatureMap, isLast: Bool) throws -> [FeatureMap] {
        normalizeAndActivate(x, gamma: gamma)
        let y = try conv.push(x, isLast: isLast)
        if !conv.retainsInput { x.discard() }
        return [y]
    }

    var persistentBytes: Int { conv.persistentBytes }
    var workingBytes: Int { inputBytes + conv.workingBytes }
}

// MARK: - Networks as lists of operations

/// One layer of the encoder or decoder, with its weights.
enum VAEOperation: Sendable {
    case convolution(VAEConvWeights)
    case residual(VAEResidualWeights)
    case attention(VAEAttentionWeights)
    case resample(VAEResampleWeights)
    case head(gamma: [Float], conv: VAEConvWeights)

    func outputSize(_ s: FrameSize) -> FrameSize {
        guard case .resample(let r) = self else { return s }
        switch r.mode {
        case .upsample2d, .upsample3d: return FrameSize(height: 2 * s.height, width: 2 * s.width)
        case .downsample2d, .downsample3d: return FrameSize(height: (s.height - 2) / 2 + 1, width: (s.width - 2) / 2 + 1)
        }
    }

    /// The input rectangle that output rectangle `out` depends on.
    func inputRegion(for out: PixelRegion, input: FrameSize, output: FrameSize) -> PixelRegion {
        switch self {
        case .convolution(let w), .head(_, let w):
            return out.grown(by: max(w.padding.h, w.padding.w), within: input)
        case .residual:
            return out.grown(by: 2, within: input)
        case .attention:
            return .full(input)
        case .resample(let r):
            switch r.mode {
            case .upsample2d, .upsample3d:
                let g = out.grown(by: 1, within: output)
                return PixelRegion(top: g.top / 2, left: g.left / 2, bottom: (g.bottom + 1) / 2, right: (g.right + 1) / 2)
            case .downsample2d, .downsample3d:
                return PixelRegion(top: 2 * out.top, left: 2 * out.left,
                                   bottom: min(input.height, 2 * out.bottom + 1), right: min(input.width, 2 * out.right + 1))
            }
        }
    }

    func makeStage(input: PixelRegion, output: PixelRegion, outputFrame: FrameSize) -> VAEStage {
        switch self {
        case .convolution(let w): return ConvolutionStage(w, input: input, output: output)
        case .residual(let w): return ResidualStage(w, input: input, output: output, frame: outputFrame)
        case .attention(let w): return AttentionStage(w, frame: outputFrame, output: output)
        case .head(let gamma, let w): return HeadStage(gamma: gamma, conv: w, input: input, output: output)
        case .resample(let r):
            switch r.mode {
            case .upsample2d, .upsample3d: return UpsampleStage(r, input: input, output: output)
            case .downsample2d, .downsample3d: return DownsampleStage(r, input: input, output: output)
            }
        }
    }
}

/// The stages of a network for one output rectangle, run one input frame at a time.
final class VAEPipeline {
    let stages: [VAEStage]
    /// Rectangles per operation input (index i) and of the final output (last).
    let regions: [PixelRegion]

    /// Builds the stages that produce `outputRegion` of the last operation's output.
    init(_ operations: [VAEOperation], inputSize: FrameSize, outputRegion: PixelRegion?) {
        var sizes = [inputSize]
        for op in operations { sizes.append(op.outputSize(sizes[sizes.count - 1])) }
        var regions = [PixelRegion](repeating: .full(inputSize), count: operations.count + 1)
        regions[operations.count] = outputRegion ?? .full(sizes[operations.count])
        for i in stride(from: operations.count - 1, through: 0, by: -1) {
            regions[i] = operations[i].inputRegion(for: regions[i + 1], input: sizes[i], output: sizes[i + 1])
        }
        self.regions = regions
        stages = operations.indices.map { i in
            operations[i].makeStage(input: regions[i], output: regions[i + 1], outputFrame: sizes[i + 1])
        }
    }

    /// Pushes one input frame through every stage, depth first, handing each finished output
    /// frame to `emit` in order. `isLast` marks the final input frame (work for frames that
    /// will never come is skipped). Cancellation is checked before every stage.
    func push(_ frame: FeatureMap, isLast: Bool, cancel: CancellationToken?, emit: (FeatureMap) throws -> Void) throws {
        var work: [(stage: Int, frame: FeatureMap, isLast: Bool)] = [(0, frame, isLast)]
        while let item = work.popLast() {
            try cancel?.check()
            if item.stage == stages.count {
                try emit(item.frame)
                continue
            }
            let produced = try stages[item.stage].push(item.frame, isLast: item.isLast)
            for (k, f) in produced.enumerated().reversed() {
                work.append((item.stage + 1, f, item.isLast && k == produced.count - 1))
            }
        }
    }

    /// Estimated peak bytes: every stage's state, the largest working set, and frames that wait.
    var estimatedBytes: Int {
        let persistent = stages.reduce(0) { $0 + $1.persistentBytes }
        let working = stages.reduce(0) { max($0, $1.workingBytes) }
        let waiting = stages.reduce(0) { $0 + (($1 as? UpsampleStage)?.waitingBytes ?? 0) }
        return persistent + working + waiting
    }
}

// MARK: - Architecture from the configuration

extension WanVAEConfig {
    /// Rejects the settings of the diffusers class that this implementation does not cover.
    func checkSupportedByWanVAE() throws {
        try validate()
        guard !isResidual else { throw KinemaError.unsupported("WanVAEConfig: is_residual (the Wan2.2 VAE) is not supported") }
        guard patchSize == nil || patchSize == 1 else {
            throw KinemaError.unsupported("WanVAEConfig: patch_size \(patchSize ?? 0) (the Wan2.2 VAE) is not supported")
        }
        guard attnScales.isEmpty else {
            throw KinemaError.unsupported("WanVAEConfig: attn_scales \(attnScales) is not supported (Wan2.1 uses none)")
        }
    }

    /// Encoder widths: base·[1, dim_mult…].
    var encoderWidths: [Int] { [baseDim] + dimMult.map { baseDim * $0 } }
    /// Decoder widths: base·[dim_mult.last, dim_mult reversed…].
    var decoderWidths: [Int] { ([dimMult.last ?? 1] + dimMult.reversed()).map { decoderDim * $0 } }
}

/// Builds the decoder's operations: post_quant_conv, conv_in, mid block, up blocks, head.
func loadWanVAEDecoderOperations(_ config: WanVAEConfig, _ r: VAEWeightReader) throws -> [VAEOperation] {
    let z = config.zDim, dims = config.decoderWidths, levels = config.dimMult.count
    let temporalUpsample = Array(config.temporalDownsample.reversed())
    var ops: [VAEOperation] = [
        .convolution(try r.conv3d("post_quant_conv", z, z, kernel: (1, 1, 1))),
        .convolution(try r.conv3d("decoder.conv_in", z, dims[0], kernel: (3, 3, 3), padding: (1, 1))),
        .residual(try r.residual("decoder.mid_block.resnets.0", dims[0], dims[0])),
        .attention(try r.attention("decoder.mid_block.attentions.0", dims[0])),
        .residual(try r.residual("decoder.mid_block.resnets.1", dims[0], dims[0])),
    ]
    for i in 0..<levels {
        var cin = i > 0 ? dims[i] / 2 : dims[i]
        let cout = dims[i + 1]
        for j in 0...config.numResBlocks {
            ops.append(.residual(try r.residual("decoder.up_blocks.\(i).resnets.\(j)", cin, cout)))
            cin = cout
        }
        if i != levels - 1 {
            let mode: VAEResampleWeights.Mode = temporalUpsample[i] ? .upsample3d : .upsample2d
            ops.append(.resample(try r.resample("decoder.up_blocks.\(i).upsamplers.0", cout, mode: mode)))
        }
    }
    let last = dims[levels]
    ops.append(.head(gamma: try r.gamma("decoder.norm_out", last),
                     conv: try r.conv3d("decoder.conv_out", last, config.outChannels, kernel: (3, 3, 3), padding: (1, 1))))
    return ops
}

/// Builds the encoder's operations: conv_in, down blocks, mid block, head, and the mean half
/// of quant_conv.
func loadWanVAEEncoderOperations(_ config: WanVAEConfig, _ r: VAEWeightReader) throws -> [VAEOperation] {
    let z = config.zDim, dims = config.encoderWidths, levels = config.dimMult.count
    var ops: [VAEOperation] = [
        .convolution(try r.conv3d("encoder.conv_in", config.inChannels, dims[0], kernel: (3, 3, 3), padding: (1, 1)))
    ]
    var index = 0
    for i in 0..<levels {
        var cin = dims[i]
        let cout = dims[i + 1]
        for _ in 0..<config.numResBlocks {
            ops.append(.residual(try r.residual("encoder.down_blocks.\(index)", cin, cout)))
            index += 1
            cin = cout
        }
        if i != levels - 1 {
            let mode: VAEResampleWeights.Mode = config.temporalDownsample[i] ? .downsample3d : .downsample2d
            ops.append(.resample(try r.resample("encoder.down_blocks.\(index)", cout, mode: mode)))
            index += 1
        }
    }
    let last = dims[levels]
    ops.append(.residual(try r.residual("encoder.mid_block.resnets.0", last, last)))
    ops.append(.attention(try r.attention("encoder.mid_block.attentions.0", last)))
    ops.append(.residual(try r.residual("encoder.mid_block.resnets.1", last, last)))
    ops.append(.head(gamma: try r.gamma("encoder.norm_out", last),
                     conv: try r.conv3d("encoder.conv_out", last, 2 * z, kernel: (3, 3, 3), padding: (1, 1))))
    ops.append(.convolution(try r.conv3d("quant_conv", 2 * z, 2 * z, kernel: (1, 1, 1)).keepingOutputs(z)))
    return ops
}

func isDecoderTensor(_ name: String) -> Bool { name.hasPrefix("decoder.") || name.hasPrefix("post_quant_conv.") }
func isEncoderTensor(_ name: String) -> Bool { name.hasPrefix("encoder.") || name.hasPrefix("quant_conv.") }

// MARK: - Decoder

/// The Wan2.1 VAE decoder: normalised latents [z, T, h, w] → video [3, 1 + 4(T−1), 8h, 8w] in
/// [−1, 1] (for the Wan2.1 configuration), streamed one latent frame at a time.
public final class WanVAEDecoder: Sendable {
    public let config: WanVAEConfig
    let operations: [VAEOperation]
    let latentMean: [Float], latentStd: [Float]

    /// Decoding switches to tiles when the whole-frame estimate exceeds this: 2.5 GiB, which
    /// with the Wan2.1 decoder's 0.29 GB of float32 weights keeps a decode under 3 GB.
    public static let defaultMemoryBudgetBytes = 5 << 29

    /// Loads the decoder half of a VAE checkpoint (diffusers or original Wan2.1 names). Every
    /// decoder tensor is checked; the encoder half may be present and is not read.
    public convenience init(config: WanVAEConfig, weights: any TensorSource) throws {
        try config.checkSupportedByWanVAE()
        let reader = VAEWeightReader(try WanVAEKeys.diffusersView(of: weights, numResBlocks: config.numResBlocks))
        try self.init(config: config, reader: reader)
        try reader.finish(belongsElsewhere: isEncoderTensor)
    }

    init(config: WanVAEConfig, reader: VAEWeightReader) throws {
        self.config = config
        operations = try loadWanVAEDecoderOperations(config, reader)
        latentMean = config.latentsMean.map { Float($0) }
        latentStd = config.latentsStd.map { Float($0) }
    }

    /// Output frames for `latentFrames` latent frames: 1 + r·(T − 1), r = temporal factor.
    public func outputFrameCount(latentFrames t: Int) -> Int {
        t <= 0 ? 0 : 1 + config.temporalCompression * (t - 1)
    }

    /// How a decode of the given latent size will run.
    public struct Plan: Equatable, Sendable {
        /// Tile grid over the latent frame; 1 × 1 means whole frames, streamed.
        public let tileRows: Int, tileColumns: Int
        /// Estimated peak working memory of the decode (weights not included).
        public let estimatedBytes: Int
        public var isTiled: Bool { tileRows * tileColumns > 1 }
    }

    /// Chooses whole frames when their estimate fits `memoryBudgetBytes`, otherwise the
    /// smallest tile grid that fits. Tiles are decoded one after the other over all frames, so
    /// the finished video (3·F·H·W floats) is held until the last tile is done; that buffer
    /// is part of the estimate. Throws `.outOfMemory` when no grid fits.
    public func plan(latentFrames: Int, latentHeight: Int, latentWidth: Int,
                     memoryBudgetBytes: Int = WanVAEDecoder.defaultMemoryBudgetBytes) throws -> Plan {
        guard latentFrames > 0, latentHeight > 0, latentWidth > 0 else {
            throw KinemaError.invalidArgument("Wan VAE decode: latent size \(latentFrames)×\(latentHeight)×\(latentWidth) is empty")
        }
        let scale = config.spatialCompression
        let height = latentHeight * scale, width = latentWidth * scale
        let frames = outputFrameCount(latentFrames: latentFrames)
        let stepFrames = floatBytes(config.outChannels * config.temporalCompression * height * width)
        let whole = estimate(rows: 1, columns: 1, latentHeight: latentHeight, latentWidth: latentWidth) + stepFrames
        if whole <= memoryBudgetBytes { return Plan(tileRows: 1, tileColumns: 1, estimatedBytes: whole) }

        let video = floatBytes(config.outChannels * frames * height * width)
        var grids: [(Int, Int)] = []
        for rows in 1...min(latentHeight, 16) {
            for columns in 1...min(latentWidth, 16) where rows * columns > 1 { grids.append((rows, columns)) }
        }
        // Fewest tiles first; among equal counts, the squarest tiles (least overlap).
        grids.sort { a, b in
            if a.0 * a.1 != b.0 * b.1 { return a.0 * a.1 < b.0 * b.1 }
            let ra = Double(latentHeight * a.1) / Double(latentWidth * a.0)
            let rb = Double(latentHeight * b.1) / Double(latentWidth * b.0)
            return abs(log(ra)) < abs(log(rb))
        }
        var best = whole
        for (rows, columns) in grids {
            let bytes = estimate(rows: rows, columns: columns, latentHeight: latentHeight, latentWidth: latentWidth) + video
            if bytes <= memoryBudgetBytes { return Plan(tileRows: rows, tileColumns: columns, estimatedBytes: bytes) }
            best = min(best, bytes)
        }
        throw KinemaError(.outOfMemory, "Wan VAE decode of \(latentFrames)×\(latentHeight)×\(latentWidth) latents needs about "
                          + "\(best >> 20) MiB even in tiles; memoryBudgetBytes is \(memoryBudgetBytes >> 20) MiB")
    }

    /// Latent rectangles of a rows × columns grid.
    static func tiles(rows: Int, columns: Int, latentHeight h: Int, latentWidth w: Int) -> [PixelRegion] {
        var tiles: [PixelRegion] = []
        for i in 0..<rows {
            for j in 0..<columns {
                tiles.append(PixelRegion(top: i * h / rows, left: j * w / columns,
                                         bottom: (i + 1) * h / rows, right: (j + 1) * w / columns))
            }
        }
        return tiles
    }

    private func estimate(rows: Int, columns: Int, latentHeight: Int, latentWidth: Int) -> Int {
        let scale = config.spatialCompression
        let input = FrameSize(height: latentHeight, width: latentWidth)
        var worst = 0
        for tile in WanVAEDecoder.tiles(rows: rows, columns: columns, latentHeight: latentHeight, latentWidth: latentWidth) {
            let out = PixelRegion(top: tile.top * scale, left: tile.left * scale, bottom: tile.bottom * scale, right: tile.right * scale)
            worst = max(worst, VAEPipeline(operations, inputSize: input, outputRegion: rows * columns == 1 ? nil : out).estimatedBytes)
        }
        return worst
    }

    /// Decodes normalised latents [z, T, h, w], handing the video to `onFrames` as it is
    /// produced: one call per latent frame, with [3, n, H, W] in [−1, 1] where n is 1 for the
    /// first latent frame and the temporal factor (4 for Wan2.1) for every later one.
    ///
    /// Whole frames are streamed: memory stays the same for any number of frames. When that
    /// would exceed `memoryBudgetBytes`, the frame is decoded in tiles (see `plan`), equal to
    /// the whole-frame result up to float rounding, and the calls come after the last tile.
    /// Cancellation is checked before every layer; a cancelled decode throws `.cancelled`.
    public func decode(latent: Tensor, memoryBudgetBytes: Int = WanVAEDecoder.defaultMemoryBudgetBytes,
                       cancel: CancellationToken? = nil, onFrames: (Tensor) throws -> Void) throws {
        guard latent.rank == 4, latent.shape[0] == config.zDim else {
            throw KinemaError.shape("Wan VAE decode: latent \(latent.shape) is not [\(config.zDim), T, h, w]")
        }
        let plan = try self.plan(latentFrames: latent.shape[1], latentHeight: latent.shape[2], latentWidth: latent.shape[3],
                                 memoryBudgetBytes: memoryBudgetBytes)
        try decode(latent: latent, plan: plan, cancel: cancel, onFrames: onFrames)
    }

    /// Decodes with a given plan (`latent` already checked).
    func decode(latent: Tensor, plan: Plan, cancel: CancellationToken?, onFrames: (Tensor) throws -> Void) throws {
        let (t, h, w) = (latent.shape[1], latent.shape[2], latent.shape[3])
        let scale = config.spatialCompression, channels = config.outChannels
        let size = FrameSize(height: h * scale, width: w * scale)
        let input = FrameSize(height: h, width: w)

        if !plan.isTiled {
            let pipeline = VAEPipeline(operations, inputSize: input, outputRegion: nil)
            for i in 0..<t {
                var frames: [FeatureMap] = []
                try pipeline.push(try latentFrame(latent, i), isLast: i == t - 1, cancel: cancel) { frames.append($0) }
                let plane = size.height * size.width
                var out = [Float](repeating: 0, count: channels * frames.count * plane)
                out.withMutablePointer { op in
                    for (n, f) in frames.enumerated() {
                        for c in 0..<channels {
                            clampCopy(f.data + c * plane, to: op + (c * frames.count + n) * plane, count: plane)
                        }
                    }
                }
                try onFrames(Tensor(unchecked: [channels, frames.count, size.height, size.width], data: out))
            }
            return
        }

        let total = outputFrameCount(latentFrames: t)
        var video = [Float](repeating: 0, count: channels * total * size.height * size.width)
        for tile in WanVAEDecoder.tiles(rows: plan.tileRows, columns: plan.tileColumns, latentHeight: h, latentWidth: w) {
            let region = PixelRegion(top: tile.top * scale, left: tile.left * scale,
                                     bottom: tile.bottom * scale, right: tile.right * scale)
            let pipeline = VAEPipeline(operations, inputSize: input, outputRegion: region)
            var n = 0
            for i in 0..<t {
                try pipeline.push(try latentFrame(latent, i), isLast: i == t - 1, cancel: cancel) { f in
                    guard n < total else { throw KinemaError(.internalError, "Wan VAE decode produced more than \(total) frames") }
                    video.withMutablePointer { vp in
                        for c in 0..<channels {
                            for r in 0..<region.height {
                                clampCopy(f.data + (c * region.height + r) * region.width,
                                          to: vp + ((c * total + n) * size.height + region.top + r) * size.width + region.left,
                                          count: region.width)
                            }
                        }
                    }
                    n += 1
                }
            }
        }
        let plane = size.height * size.width
        var start = 0
        for i in 0..<t {
            let n = i == 0 ? 1 : config.temporalCompression
            var out = [Float](repeating: 0, count: channels * n * plane)
            video.withPointer { vp in
                out.withMutablePointer { op in
                    for c in 0..<channels {
                        (op + c * n * plane).update(from: vp + (c * total + start) * plane, count: n * plane)
                    }
                }
            }
            try onFrames(Tensor(unchecked: [channels, n, size.height, size.width], data: out))
            start += n
        }
    }

    /// Decodes normalised latents [z, T, h, w] into the whole video [3, F, H, W] in [−1, 1].
    public func decode(latent: Tensor, memoryBudgetBytes: Int = WanVAEDecoder.defaultMemoryBudgetBytes,
                       cancel: CancellationToken? = nil) throws -> Tensor {
        var chunks: [Tensor] = []
        try decode(latent: latent, memoryBudgetBytes: memoryBudgetBytes, cancel: cancel) { chunks.append($0) }
        return try concatenateFrames(chunks)
    }

    /// Latent frame i, un-normalised: z·std + mean per channel.
    private func latentFrame(_ latent: Tensor, _ i: Int) throws -> FeatureMap {
        let (z, t, h, w) = (latent.shape[0], latent.shape[1], latent.shape[2], latent.shape[3])
        let f = try FeatureMap(channels: z, height: h, width: w)
        latent.data.withPointer { lp in
            for c in 0..<z {
                let src = lp + (c * t + i) * h * w, dst = f.data + c * h * w
                let s = latentStd[c], m = latentMean[c]
                for k in 0..<(h * w) { dst[k] = src[k] * s + m }
            }
        }
        return f
    }
}

@inline(__always)
private func clampCopy(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int) {
    for k in 0..<count { dst[k] = min(max(src[k], -1), 1) }
}

/// Joins [C, n_i, H, W] tensors along frames.
func concatenateFrames(_ chunks: [Tensor]) throws -> Tensor {
    guard let first = chunks.first, first.rank == 4 else { return Tensor(zeros: [0]) }
    let (c, h, w) = (first.shape[0], first.shape[2], first.shape[3])
    let total = chunks.reduce(0) { $0 + $1.shape[1] }
    var out = [Float](repeating: 0, count: c * total * h * w)
    var start = 0
    for chunk in chunks {
        guard chunk.rank == 4, chunk.shape[0] == c, chunk.shape[2] == h, chunk.shape[3] == w else {
            throw KinemaError.shape("cannot join frames \(chunk.shape) to \(first.shape)")
        }
        let n = chunk.shape[1]
        chunk.data.withPointer { src in
            out.withMutablePointer { dst in
                for ch in 0..<c {
                    (dst + (ch * total + start) * h * w).update(from: src + ch * n * h * w, count: n * h * w)
                }
            }
        }
        start += n
    }
    return Tensor(unchecked: [c, total, h, w], data: out)
}

// MARK: - Encoder

/// The Wan2.1 VAE encoder: video [3, F, H, W] in [−1, 1] with F = 1 + 4k → normalised latent
/// mean [z, 1 + (F−1)/r, H/8, W/8] (r the temporal factor), streamed one pixel frame at a time.
public final class WanVAEEncoder: Sendable {
    public let config: WanVAEConfig
    let operations: [VAEOperation]
    let latentMean: [Float], latentStd: [Float]

    /// Loads the encoder half of a VAE checkpoint (diffusers or original Wan2.1 names). Every
    /// encoder tensor is checked; the decoder half may be present and is not read.
    public convenience init(config: WanVAEConfig, weights: any TensorSource) throws {
        try config.checkSupportedByWanVAE()
        let reader = VAEWeightReader(try WanVAEKeys.diffusersView(of: weights, numResBlocks: config.numResBlocks))
        try self.init(config: config, reader: reader)
        try reader.finish(belongsElsewhere: isDecoderTensor)
    }

    init(config: WanVAEConfig, reader: VAEWeightReader) throws {
        // The reference encodes pixel frames in chunks 1, 4, 4, …; a third temporal
        // downsampling would meet chunks of one frame, which the reference cannot convolve.
        guard config.temporalDownsample.filter({ $0 }).count <= 2 else {
            throw KinemaError.unsupported("WanVAEConfig: the encoder supports at most two temporal downsamplings, temperal_downsample is \(config.temporalDownsample)")
        }
        self.config = config
        operations = try loadWanVAEEncoderOperations(config, reader)
        latentMean = config.latentsMean.map { Float($0) }
        latentStd = config.latentsStd.map { Float($0) }
    }

    /// Encodes [3, F, H, W] (F = 1 + 4k, H and W multiples of the spatial factor) into the
    /// normalised latent mean (z − mean)/std, [z, T, H/s, W/s]. Cancellation is checked before
    /// every layer.
    public func encode(video: Tensor, cancel: CancellationToken? = nil) throws -> Tensor {
        let scale = config.spatialCompression
        guard video.rank == 4, video.shape[0] == config.inChannels else {
            throw KinemaError.shape("Wan VAE encode: video \(video.shape) is not [\(config.inChannels), F, H, W]")
        }
        let (f, h, w) = (video.shape[1], video.shape[2], video.shape[3])
        guard f >= 1, (f - 1) % 4 == 0 else {
            throw KinemaError.invalidArgument("Wan VAE encode: \(f) frames; the encoder takes 1 + 4k frames")
        }
        guard h > 0, w > 0, h % scale == 0, w % scale == 0 else {
            throw KinemaError.invalidArgument("Wan VAE encode: frame size \(h)×\(w) is not a positive multiple of \(scale)")
        }
        let z = config.zDim, lh = h / scale, lw = w / scale
        let pipeline = VAEPipeline(operations, inputSize: FrameSize(height: h, width: w), outputRegion: nil)
        var latents: [FeatureMap] = []
        for i in 0..<f {
            let frame = try FeatureMap(channels: video.shape[0], height: h, width: w)
            video.data.withPointer { vp in
                for c in 0..<video.shape[0] {
                    (frame.data + c * h * w).update(from: vp + (c * f + i) * h * w, count: h * w)
                }
            }
            try pipeline.push(frame, isLast: i == f - 1, cancel: cancel) { latents.append($0) }
        }
        let t = latents.count, plane = lh * lw
        var out = [Float](repeating: 0, count: z * t * plane)
        out.withMutablePointer { op in
            for (i, latent) in latents.enumerated() {
                for c in 0..<z {
                    let inv = 1 / latentStd[c], m = latentMean[c]
                    let src = latent.data + c * plane, dst = op + (c * t + i) * plane
                    for k in 0..<plane { dst[k] = (src[k] - m) * inv }
                }
            }
        }
        return Tensor(unchecked: [z, t, lh, lw], data: out)
    }
}

// MARK: - Both halves

/// The Wan2.1 VAE (`AutoencoderKLWan`): decoder and encoder loaded from one checkpoint.
public final class WanVAE: Sendable {
    public let config: WanVAEConfig
    public let decoder: WanVAEDecoder
    public let encoder: WanVAEEncoder

    /// Loads every tensor of a VAE checkpoint with diffusers names or the original Wan2.1
    /// names; a missing, unexpected or misshapen tensor is one error listing them all.
    public init(config: WanVAEConfig, weights: any TensorSource) throws {
        try config.checkSupportedByWanVAE()
        let reader = VAEWeightReader(try WanVAEKeys.diffusersView(of: weights, numResBlocks: config.numResBlocks))
        self.config = config
        decoder = try WanVAEDecoder(config: config, reader: reader)
        encoder = try WanVAEEncoder(config: config, reader: reader)
        try reader.finish()
    }

    /// Every tensor (diffusers name → shape) a checkpoint of this configuration holds.
    public static func tensorShapes(config: WanVAEConfig) throws -> [String: [Int]] {
        try config.checkSupportedByWanVAE()
        let reader = VAEWeightReader()
        _ = try loadWanVAEDecoderOperations(config, reader)
        _ = try loadWanVAEEncoderOperations(config, reader)
        return reader.expected
    }

    /// Loads a diffusers `vae/` folder: config.json and diffusion_pytorch_model.safetensors
    /// (or its shard index).
    public convenience init(directory: URL) throws {
        let config = try WanVAEConfig.load(contentsOf: directory.appendingPathComponent("config.json"))
        try self.init(config: config,
                      weights: try SafeTensorsCollection(directory: directory, prefix: "diffusion_pytorch_model"))
    }
}
