// The Wan2.1 diffusion transformer, following huggingface/diffusers
// models/transformers/transformer_wan.py (`WanTransformer3DModel`, `WanTransformerBlock`,
// `WanAttnProcessor`, `WanRotaryPosEmbed`, `WanTimeTextImageEmbedding`), text-to-video form.
//
// Activations are token-major [tokens × dim] float32 buffers. Weights may stay in their stored
// 16-bit form; each linear layer widens its weight into a per-call scratch buffer right before
// its sgemm. A loaded model holds no mutable state: every forward pass allocates its own
// workspace, so one model serves several threads at once.

import Foundation

// MARK: - Linear layer

/// A PyTorch `Linear`: y = x·Wᵀ + b with W stored [out, in] in its checkpoint precision.
struct WanLinear: Sendable {
    let weight: WeightData
    let bias: [Float]
    let outFeatures: Int
    let inFeatures: Int

    init(weight: WeightData, bias: [Float]) {
        self.weight = weight
        self.bias = bias
        self.outFeatures = weight.rowCount
        self.inFeatures = weight.rowLength
    }

    /// Floats of scratch the layer needs to widen its weight (0 for float32 weights).
    var scratchCount: Int { weight.dtype == .f32 ? 0 : weight.count }

    /// out[rows × outFeatures] = x[rows × inFeatures]·Wᵀ (+ b when `addBias`). `scratch` must
    /// hold `scratchCount` floats.
    func apply(_ x: UnsafePointer<Float>, rows: Int, out: UnsafeMutablePointer<Float>,
               addBias: Bool = true, scratch: UnsafeMutablePointer<Float>?) {
        guard rows > 0 else { return }
        withWidenedWeight(scratch: scratch) { w in
            if addBias {
                bias.withPointer { bp in
                    GEMM.linear(x: x, m: rows, k: inFeatures, weight: w, n: outFeatures, bias: bp, out: out)
                }
            } else {
                GEMM.linear(x: x, m: rows, k: inFeatures, weight: w, n: outFeatures, bias: nil, out: out)
            }
        }
    }

    private func withWidenedWeight(scratch: UnsafeMutablePointer<Float>?, _ body: (UnsafePointer<Float>) -> Void) {
        if case .f32(let values) = weight.storage {
            values.withPointer(body)
        } else if let scratch {
            weight.widenRows(0..<outFeatures, into: scratch)
            body(UnsafePointer(scratch))
        } else {
            // Not reached: workspaces are sized from `scratchCount`. Widen into a fresh buffer
            // rather than trap.
            var tmp = [Float](repeating: 0, count: weight.count)
            tmp.withMutablePointer { p in
                weight.widenRows(0..<outFeatures, into: p)
                body(UnsafePointer(p))
            }
        }
    }
}

// MARK: - Block

/// One DiT block: modulated self-attention with 3D RoPE, cross-attention to the text, and a
/// modulated GELU-tanh feed-forward, each added back through a gate.
public struct WanTransformerBlock: Sendable {
    /// `scale_shift_table` [6·dim]: shift, scale, gate (self-attention), shift, scale, gate (FFN).
    let table: [Float]
    /// to_q, to_k, to_v of the self-attention fused into one [3·dim, dim] projection.
    let selfQKV: WanLinear
    let selfNormQ: [Float]
    let selfNormK: [Float]
    let selfOut: WanLinear
    /// The affine LayerNorm before cross-attention (`norm2`; `norm3` in the original naming).
    let crossNorm: (weight: [Float], bias: [Float])?
    let crossQ: WanLinear
    /// to_k, to_v of the cross-attention fused into one [2·dim, dim] projection.
    let crossKV: WanLinear
    let crossNormQ: [Float]
    let crossNormK: [Float]
    let crossOut: WanLinear
    let ffnUp: WanLinear
    let ffnDown: WanLinear

    var linears: [WanLinear] { [selfQKV, selfOut, crossQ, crossKV, crossOut, ffnUp, ffnDown] }
}

// MARK: - Model

public final class WanTransformer: @unchecked Sendable {
    /// The architecture's sizes (diffusers `WanTransformer3DModel` config).
    public struct Dimensions: Sendable, Equatable {
        public var heads: Int
        public var headDim: Int
        public var ffnDim: Int
        public var layers: Int
        public var inChannels: Int
        public var outChannels: Int
        public var textDim: Int
        public var freqDim: Int
        public var patchSize: [Int]
        public var eps: Float
        public var ropeMaxSeqLen: Int
        public var crossAttentionNorm: Bool

        public init(heads: Int, headDim: Int, ffnDim: Int, layers: Int, inChannels: Int, outChannels: Int,
                    textDim: Int, freqDim: Int, patchSize: [Int] = [1, 2, 2], eps: Float = 1e-6,
                    ropeMaxSeqLen: Int = 1024, crossAttentionNorm: Bool = true) {
            self.heads = heads
            self.headDim = headDim
            self.ffnDim = ffnDim
            self.layers = layers
            self.inChannels = inChannels
            self.outChannels = outChannels
            self.textDim = textDim
            self.freqDim = freqDim
            self.patchSize = patchSize
            self.eps = eps
            self.ropeMaxSeqLen = ropeMaxSeqLen
            self.crossAttentionNorm = crossAttentionNorm
        }

        /// The sizes of a diffusers config. Image conditioning (I2V: `image_dim`,
        /// `added_kv_proj_dim`) and query/key norms other than "rms_norm_across_heads" are
        /// `.unsupported`.
        public init(config: WanTransformerConfig) throws {
            try config.validate()
            if config.imageDim != nil || config.addedKVProjDim != nil || config.posEmbedSeqLen != nil {
                throw KinemaError.unsupported("Wan transformer config: image conditioning (image_dim, added_kv_proj_dim, pos_embed_seq_len) is not supported")
            }
            guard config.qkNorm == "rms_norm_across_heads" else {
                throw KinemaError.unsupported("Wan transformer config: qk_norm \(config.qkNorm ?? "null") is not supported")
            }
            self.init(heads: config.numAttentionHeads, headDim: config.attentionHeadDim, ffnDim: config.ffnDim,
                      layers: config.numLayers, inChannels: config.inChannels, outChannels: config.outChannels,
                      textDim: config.textDim, freqDim: config.freqDim, patchSize: config.patchSize,
                      eps: Float(config.eps), ropeMaxSeqLen: config.ropeMaxSeqLen,
                      crossAttentionNorm: config.crossAttnNorm)
            try validate()
        }

        /// Wan2.1 T2V 1.3B.
        public static let wan21T2V1_3B = Dimensions(
            heads: 12, headDim: 128, ffnDim: 8960, layers: 30, inChannels: 16, outChannels: 16,
            textDim: 4096, freqDim: 256)

        public var dim: Int { heads * headDim }
        public var patchVolume: Int { patchSize.reduce(1, *) }
        /// RoPE channels per head for the frame, height and width axes: h = w = 2·⌊d/6⌋.
        public var ropeSplit: (t: Int, h: Int, w: Int) {
            let hw = 2 * (headDim / 6)
            return (headDim - 2 * hw, hw, hw)
        }

        public func validate() throws {
            let positive = [("num_attention_heads", heads), ("attention_head_dim", headDim), ("ffn_dim", ffnDim),
                            ("in_channels", inChannels), ("out_channels", outChannels), ("text_dim", textDim),
                            ("freq_dim", freqDim), ("rope_max_seq_len", ropeMaxSeqLen)]
            for (name, value) in positive where value <= 0 {
                throw KinemaError.invalidArgument("Wan transformer config: \(name) must be positive, got \(value)")
            }
            guard layers >= 0 else {
                throw KinemaError.invalidArgument("Wan transformer config: num_layers must not be negative, got \(layers)")
            }
            guard headDim % 2 == 0 else {
                throw KinemaError.invalidArgument("Wan transformer config: attention_head_dim must be even for RoPE, got \(headDim)")
            }
            guard patchSize.count == 3, patchSize.allSatisfy({ $0 > 0 }) else {
                throw KinemaError.invalidArgument("Wan transformer config: patch_size must be three positive sizes, got \(patchSize)")
            }
            guard eps.isFinite, eps > 0 else {
                throw KinemaError.invalidArgument("Wan transformer config: eps must be positive, got \(eps)")
            }
            let sizes = [heads, headDim, ffnDim, inChannels, outChannels, textDim, freqDim, layers] + patchSize
            guard sizes.allSatisfy({ $0 <= 1 << 20 }), dim <= 1 << 20 else {
                throw KinemaError.invalidArgument("Wan transformer config: sizes are implausibly large")
            }
        }
    }

    /// Text context prepared once per generation: the cross-attention keys and values of every
    /// block. With `mergeRepeatedRows`, identical trailing rows (the zero padding after the
    /// prompt) are kept once and counted through a key bias of ln(count), which is exact:
    /// softmax weights of n equal keys sum to n·e^s = e^(s + ln n).
    public final class PreparedContext: @unchecked Sendable {
        /// Key/value rows per block after merging.
        public let rows: Int
        /// Rows of the context it was made from.
        public let contextRows: Int
        /// Per block: [rows × 2·dim], keys (RMS-normalised) then values.
        let keyValues: [[Float]]
        let keyBias: [Float]?
        let owner: ObjectIdentifier

        init(rows: Int, contextRows: Int, keyValues: [[Float]], keyBias: [Float]?, owner: ObjectIdentifier) {
            self.rows = rows
            self.contextRows = contextRows
            self.keyValues = keyValues
            self.keyBias = keyBias
            self.owner = owner
        }
    }

    public let dimensions: Dimensions
    let patchEmbedding: WanLinear  // [dim, C·pt·ph·pw]
    let timeLinear1: WanLinear
    let timeLinear2: WanLinear
    let timeProjection: WanLinear
    let textLinear1: WanLinear
    let textLinear2: WanLinear
    public let blocks: [WanTransformerBlock]
    let headTable: [Float]  // [2·dim]: shift, scale
    let projOut: WanLinear
    let maxScratch: Int

    /// Loads the model from any checkpoint layout (diffusers, original Wan names, single file
    /// with the "model.diffusion_model." prefix). Every tensor is checked by name and shape
    /// first; the error lists all missing, unexpected and wrongly shaped tensors.
    /// With `keepStoredPrecision`, 16-bit weights stay 16-bit in memory and are widened per use.
    public init(dimensions: Dimensions, weights: any TensorSource, keepStoredPrecision: Bool = true) throws {
        try Compute.requireSupportedCPU()
        try dimensions.validate()
        let source = try WanTransformerWeights.diffusersView(of: weights)
        try source.checkTensors(WanTransformerWeights.expectedShapes(dimensions))
        let d = dimensions
        let dim = d.dim

        func stored(_ name: String) throws -> WeightData {
            let w = try source.weight(name)
            return keepStoredPrecision || w.dtype == .f32 ? w : WeightData(w.toTensor())
        }
        func vector(_ name: String) throws -> [Float] { try source.tensor(name).data }
        func linear(_ prefix: String) throws -> WanLinear {
            WanLinear(weight: try stored(prefix + ".weight"), bias: try vector(prefix + ".bias"))
        }
        func fused(_ prefixes: [String]) throws -> WanLinear {
            let parts = try prefixes.map { try stored($0 + ".weight") }
            let bias = try prefixes.flatMap { try vector($0 + ".bias") }
            return WanLinear(weight: try WanTransformer.concatenateRows(parts), bias: bias)
        }

        self.dimensions = d
        let patchWeight = try stored("patch_embedding.weight").reshaped([dim, d.inChannels * d.patchVolume])
        patchEmbedding = WanLinear(weight: patchWeight, bias: try vector("patch_embedding.bias"))
        timeLinear1 = try linear("condition_embedder.time_embedder.linear_1")
        timeLinear2 = try linear("condition_embedder.time_embedder.linear_2")
        timeProjection = try linear("condition_embedder.time_proj")
        textLinear1 = try linear("condition_embedder.text_embedder.linear_1")
        textLinear2 = try linear("condition_embedder.text_embedder.linear_2")
        var blocks: [WanTransformerBlock] = []
        blocks.reserveCapacity(d.layers)
        for i in 0..<d.layers {
            let b = "blocks.\(i)."
            let crossNorm = d.crossAttentionNorm
                ? (weight: try vector(b + "norm2.weight"), bias: try vector(b + "norm2.bias")) : nil
            blocks.append(WanTransformerBlock(
                table: try vector(b + "scale_shift_table"),
                selfQKV: try fused([b + "attn1.to_q", b + "attn1.to_k", b + "attn1.to_v"]),
                selfNormQ: try vector(b + "attn1.norm_q.weight"),
                selfNormK: try vector(b + "attn1.norm_k.weight"),
                selfOut: try linear(b + "attn1.to_out.0"),
                crossNorm: crossNorm,
                crossQ: try linear(b + "attn2.to_q"),
                crossKV: try fused([b + "attn2.to_k", b + "attn2.to_v"]),
                crossNormQ: try vector(b + "attn2.norm_q.weight"),
                crossNormK: try vector(b + "attn2.norm_k.weight"),
                crossOut: try linear(b + "attn2.to_out.0"),
                ffnUp: try linear(b + "ffn.net.0.proj"),
                ffnDown: try linear(b + "ffn.net.2")))
        }
        self.blocks = blocks
        headTable = try vector("scale_shift_table")
        projOut = try linear("proj_out")
        let all = [patchEmbedding, timeLinear1, timeLinear2, timeProjection, textLinear1, textLinear2, projOut]
            + blocks.flatMap(\.linears)
        maxScratch = all.map(\.scratchCount).max() ?? 0
    }

    /// Loads the model described by a diffusers `WanTransformer3DModel` config (see
    /// `init(dimensions:weights:keepStoredPrecision:)`).
    public convenience init(config: WanTransformerConfig, weights: any TensorSource, keepStoredPrecision: Bool = true) throws {
        try self.init(dimensions: Dimensions(config: config), weights: weights, keepStoredPrecision: keepStoredPrecision)
    }

    /// Stacks weight matrices with the same row length into one, keeping a common 16-bit
    /// storage when they share it.
    static func concatenateRows(_ parts: [WeightData]) throws -> WeightData {
        guard let first = parts.first else { throw KinemaError(.internalError, "no weights to concatenate") }
        let columns = first.rowLength
        guard parts.allSatisfy({ $0.rowLength == columns }) else {
            throw KinemaError.shape("cannot stack weights of shapes \(parts.map(\.shape))")
        }
        let rows = parts.reduce(0) { $0 + $1.rowCount }
        var halves: [UInt16] = []
        switch first.storage {
        case .bf16, .f16:
            var sameKind = true
            for part in parts {
                switch (first.storage, part.storage) {
                case (.bf16, .bf16(let bits)), (.f16, .f16(let bits)): halves += bits
                default: sameKind = false
                }
            }
            if sameKind {
                if case .bf16 = first.storage { return try WeightData(shape: [rows, columns], storage: .bf16(halves)) }
                return try WeightData(shape: [rows, columns], storage: .f16(halves))
            }
        case .f32:
            break
        }
        var values: [Float] = []
        values.reserveCapacity(rows * columns)
        for part in parts {
            if case .f32(let v) = part.storage { values += v } else { values += part.toTensor().data }
        }
        return try WeightData(shape: [rows, columns], storage: .f32(values))
    }

    // MARK: - Context

    /// Embeds the text context [textLen, textDim] and computes every block's cross-attention
    /// keys and values. Do this once per prompt and reuse it for all steps.
    public func prepareContext(_ context: Tensor, mergeRepeatedRows: Bool = true) throws -> PreparedContext {
        let d = dimensions, dim = d.dim
        guard context.rank == 2, context.shape[1] == d.textDim, context.shape[0] > 0 else {
            throw KinemaError.shape("text context must be [rows, \(d.textDim)] with at least one row, got \(context.shape)")
        }
        guard context.data.allSatisfy({ $0.isFinite }) else {
            throw KinemaError.invalidArgument("text context contains NaN or infinite values")
        }
        let total = context.shape[0]
        var used = total
        var keyBias: [Float]?
        if mergeRepeatedRows {
            let first = WanTransformer.firstRepeatedTrailingRow(context)
            let repeats = total - first
            if repeats >= 2 {
                used = first + 1
                var bias = [Float](repeating: 0, count: used)
                bias[first] = Float(log(Double(repeats)))
                keyBias = bias
            }
        }
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(maxScratch, 1))
        defer { scratch.deallocate() }
        var hidden = [Float](repeating: 0, count: used * dim)
        var embedded = [Float](repeating: 0, count: used * dim)
        context.data.withPointer { cp in
            hidden.withMutablePointer { hp in
                textLinear1.apply(cp, rows: used, out: hp, scratch: scratch)
                Activation.geluTanh(hp, count: used * dim)
                embedded.withMutablePointer { ep in
                    textLinear2.apply(hp, rows: used, out: ep, scratch: scratch)
                }
            }
        }
        var keyValues: [[Float]] = []
        keyValues.reserveCapacity(blocks.count)
        for block in blocks {
            var kv = [Float](repeating: 0, count: used * 2 * dim)
            embedded.withPointer { ep in
                kv.withMutablePointer { kvp in
                    block.crossKV.apply(ep, rows: used, out: kvp, scratch: scratch)
                    block.crossNormK.withPointer { wp in
                        Modulation.rmsNormRotate(kvp, rows: used, dim: dim, rowStride: 2 * dim, weight: wp,
                                                 eps: d.eps, headDim: d.headDim, cos: nil, sin: nil)
                    }
                }
            }
            keyValues.append(kv)
        }
        return PreparedContext(rows: used, contextRows: total, keyValues: keyValues, keyBias: keyBias,
                               owner: ObjectIdentifier(self))
    }

    /// Index of the first row of the run of rows identical to the last one.
    static func firstRepeatedTrailingRow(_ context: Tensor) -> Int {
        let rows = context.shape[0], width = context.shape[1]
        guard rows > 0 else { return 0 }
        let last = (rows - 1) * width
        var first = rows - 1
        context.data.withPointer { p in
            while first > 0 {
                let row = (first - 1) * width
                var same = true
                for j in 0..<width where p[row + j] != p[last + j] { same = false; break }
                if !same { break }
                first -= 1
            }
        }
        return first
    }

    // MARK: - Forward

    /// The velocity for `latent` [C, T, H, W] at `timestep` (the value diffusers passes the
    /// model: an integer for UniPC, 1000·σ for Euler) given the raw text context.
    public func forward(latent: Tensor, timestep: Float, context: Tensor, cancel: CancellationToken? = nil) throws -> Tensor {
        try forward(latent: latent, timestep: timestep, prepared: try prepareContext(context), cancel: cancel)
    }

    /// The velocity for `latent` [C, T, H, W] with a context from `prepareContext`. Checks
    /// `cancel` before every block and inside attention; `onBlock(finished, total)` is called
    /// on the calling thread after each block.
    public func forward(latent: Tensor, timestep: Float, prepared: PreparedContext,
                        cancel: CancellationToken? = nil,
                        onBlock: ((_ finished: Int, _ total: Int) -> Void)? = nil) throws -> Tensor {
        try forward(latent: latent, timestep: timestep, schedule: [(0, prepared)], cancel: cancel, onBlock: onBlock)
    }

    /// As `forward(latent:timestep:prepared:)`, with a context per span of latent frames: the
    /// tokens of latent frames from `schedule[i].firstFrame` up to the next entry's attend to
    /// `schedule[i].context` in cross-attention (self-attention still spans every frame). The
    /// first entry must start at frame 0 and the starts must increase.
    ///
    /// `cleanFrames` leading latent frames are conditioning that is already clean (an image as
    /// the first frame): their tokens are modulated as at timestep 0, the others at `timestep`,
    /// as diffusers' Wan transformer does for a per-token timestep (Wan2.2's image-to-video).
    public func forward(latent: Tensor, timestep: Float, schedule: [(firstFrame: Int, context: PreparedContext)],
                        cleanFrames: Int = 0,
                        cancel: CancellationToken? = nil,
                        onBlock: ((_ finished: Int, _ total: Int) -> Void)? = nil) throws -> Tensor {
        let d = dimensions, dim = d.dim
        for (_, prepared) in schedule {
            guard prepared.owner == ObjectIdentifier(self), prepared.keyValues.count == blocks.count,
                  prepared.keyValues.allSatisfy({ $0.count == prepared.rows * 2 * dim }),
                  prepared.keyBias.map({ $0.count == prepared.rows }) ?? true else {
                throw KinemaError.invalidArgument("the prepared context was made by another transformer")
            }
        }
        guard schedule.first?.firstFrame == 0,
              zip(schedule, schedule.dropFirst()).allSatisfy({ $0.firstFrame < $1.firstFrame }) else {
            throw KinemaError.invalidArgument("a context schedule must start at latent frame 0 and increase, got \(schedule.map(\.firstFrame))")
        }
        guard latent.rank == 4, latent.shape[0] == d.inChannels else {
            throw KinemaError.shape("latent must be [\(d.inChannels), frames, height, width], got \(latent.shape)")
        }
        let (frames, height, width) = (latent.shape[1], latent.shape[2], latent.shape[3])
        let (pt, ph, pw) = (d.patchSize[0], d.patchSize[1], d.patchSize[2])
        guard frames > 0, height > 0, width > 0, frames % pt == 0, height % ph == 0, width % pw == 0 else {
            throw KinemaError.shape("latent \(latent.shape) is not a whole number of \(d.patchSize) patches")
        }
        let grid = (f: frames / pt, h: height / ph, w: width / pw)
        guard max(grid.f, grid.h, grid.w) <= d.ropeMaxSeqLen else {
            throw KinemaError.invalidArgument("latent \(latent.shape) exceeds the \(d.ropeMaxSeqLen)-position RoPE table")
        }
        guard timestep.isFinite else {
            throw KinemaError.invalidArgument("timestep must be finite, got \(timestep)")
        }
        guard let lastStart = schedule.last?.firstFrame, lastStart < frames,
              schedule.allSatisfy({ $0.firstFrame % pt == 0 }) else {
            throw KinemaError.invalidArgument(
                "a context schedule \(schedule.map(\.firstFrame)) must start on whole \(pt)-frame patches within the latent's \(frames) frames")
        }
        guard cleanFrames >= 0, cleanFrames < frames, cleanFrames % pt == 0 else {
            throw KinemaError.invalidArgument(
                "\(cleanFrames) clean latent frames: expected whole \(pt)-frame patches, fewer than the latent's \(frames) frames")
        }
        let tokens = grid.f * grid.h * grid.w
        try cancel?.check()

        let ws = Workspace(tokens: tokens, dim: dim, ffnDim: d.ffnDim, scratch: maxScratch,
                           patchInputs: d.inChannels * d.patchVolume, pairs: d.headDim / 2)
        // Row spans with their own timestep: the clean frames' tokens (timestep 0), then the rest.
        let cleanRows = cleanFrames / pt * grid.h * grid.w
        var spans: [(rowStart: Int, rows: Int, temb: [Float], e0: [Float])] = []
        if cleanRows > 0 {
            let (temb, e0) = timeEmbedding(0, scratch: ws.scratch)
            spans.append((0, cleanRows, temb, e0))
        }
        let (temb, e0) = timeEmbedding(timestep, scratch: ws.scratch)
        spans.append((cleanRows, tokens - cleanRows, temb, e0))
        fillRoPETables(grid: grid, cos: ws.cos, sin: ws.sin)
        gatherPatches(latent, grid: grid, into: ws.patches)
        patchEmbedding.apply(ws.patches, rows: tokens, out: ws.x, scratch: ws.scratch)

        // Each span's six modulation vectors, one after the other.
        var modulation = [Float](repeating: 0, count: spans.count * 6 * dim)
        let modulationSpans = spans.enumerated().map { (k, span) in (span.rowStart, span.rows, k * 6 * dim) }
        for (i, block) in blocks.enumerated() {
            try cancel?.check()
            for (k, span) in spans.enumerated() {
                for j in 0..<6 * dim { modulation[k * 6 * dim + j] = block.table[j] + span.e0[j] }
            }
            var finished = modulation.withPointer { mp in
                selfAttentionPart(block, ws: ws, tokens: tokens, modulation: mp, spans: modulationSpans, cancel: cancel)
            }
            for (k, (start, prepared)) in schedule.enumerated() where finished {
                let end = k + 1 < schedule.count ? schedule[k + 1].firstFrame : frames
                let rowStart = start / pt * grid.h * grid.w, rowCount = (end - start) / pt * grid.h * grid.w
                finished = prepared.keyValues[i].withPointer { kv in
                    (prepared.keyBias).withOptionalPointer { kb in
                        crossAttentionPart(block, ws: ws, rowStart: rowStart, rows: rowCount,
                                           keyValues: kv, keyRows: prepared.rows, keyBias: kb, cancel: cancel)
                    }
                }
            }
            if finished {
                modulation.withPointer { mp in
                    feedForwardPart(block, ws: ws, tokens: tokens, modulation: mp, spans: modulationSpans)
                }
            }
            if !finished { throw KinemaError.cancelled }
            onBlock?(i + 1, blocks.count)
        }
        try cancel?.check()

        // Head: shift/scale from the head table plus the time embedding before its SiLU.
        var shift = [Float](repeating: 0, count: dim), scale = [Float](repeating: 0, count: dim)
        for span in spans {
            for j in 0..<dim {
                shift[j] = headTable[j] + span.temb[j]
                scale[j] = headTable[dim + j] + span.temb[j]
            }
            scale.withPointer { sp in shift.withPointer { hp in
                Modulation.layerNorm(ws.x + span.rowStart * dim, rows: span.rows, dim: dim, scale: sp, shift: hp,
                                     eps: d.eps, out: ws.a + span.rowStart * dim)
            } }
        }
        let outWidth = d.outChannels * d.patchVolume
        let projected = UnsafeMutablePointer<Float>.allocate(capacity: tokens * outWidth)
        defer { projected.deallocate() }
        projOut.apply(ws.a, rows: tokens, out: projected, scratch: ws.scratch)
        return unpatchify(projected, grid: grid)
    }

    /// A block's self-attention on the workspace's residual stream `ws.x`. Returns false when cancelled.
    /// `spans`: (first row, rows, offset of their six modulation vectors in `modulation`).
    private func selfAttentionPart(_ b: WanTransformerBlock, ws: Workspace, tokens n: Int, modulation: UnsafePointer<Float>,
                                   spans: [(Int, Int, Int)], cancel: CancellationToken?) -> Bool {
        let d = dimensions, dim = d.dim
        let shouldCancel: (() -> Bool)? = cancel.map { token in { token.isCancelled } }
        let attentionScale = 1 / Float(d.headDim).squareRoot()

        // 1. Self-attention on LN(x)·(1 + scale) + shift, q/k RMS-normalised over the whole
        //    width, rotated, then added through the gate.
        for (rowStart, rows, offset) in spans {
            let m = modulation + offset
            Modulation.layerNorm(ws.x + rowStart * dim, rows: rows, dim: dim, scale: m + dim, shift: m, eps: d.eps,
                                 out: ws.a + rowStart * dim)
        }
        b.selfQKV.apply(ws.a, rows: n, out: ws.qkv, scratch: ws.scratch)
        b.selfNormQ.withPointer { wq in
            Modulation.rmsNormRotate(ws.qkv, rows: n, dim: dim, rowStride: 3 * dim, weight: wq, eps: d.eps,
                                     headDim: d.headDim, cos: ws.cos, sin: ws.sin)
        }
        b.selfNormK.withPointer { wk in
            Modulation.rmsNormRotate(ws.qkv + dim, rows: n, dim: dim, rowStride: 3 * dim, weight: wk, eps: d.eps,
                                     headDim: d.headDim, cos: ws.cos, sin: ws.sin)
        }
        guard Attention.multiHead(
            q: ws.qkv, qStride: 3 * dim, k: ws.qkv + dim, kStride: 3 * dim, v: ws.qkv + 2 * dim, vStride: 3 * dim,
            out: ws.a, outStride: dim, queries: n, keys: n, heads: d.heads, headDim: d.headDim,
            scale: attentionScale, shouldCancel: shouldCancel) else { return false }
        b.selfOut.apply(ws.a, rows: n, out: ws.y, addBias: false, scratch: ws.scratch)
        b.selfOut.bias.withPointer { bias in
            for (rowStart, rows, offset) in spans {
                Modulation.addGated(ws.x + rowStart * dim, rows: rows, dim: dim, ws.y + rowStart * dim, yStride: dim,
                                    bias: bias, gate: modulation + offset + 2 * dim)
            }
        }
        return true
    }

    /// A block's cross-attention for the token rows [rowStart, rowStart + rows) to one prepared
    /// context's keys/values (no RoPE, no mask, no gate). Returns false when cancelled.
    private func crossAttentionPart(_ b: WanTransformerBlock, ws: Workspace, rowStart: Int, rows n: Int,
                                    keyValues kv: UnsafePointer<Float>, keyRows: Int, keyBias: UnsafePointer<Float>?,
                                    cancel: CancellationToken?) -> Bool {
        let d = dimensions, dim = d.dim
        let shouldCancel: (() -> Bool)? = cancel.map { token in { token.isCancelled } }
        let attentionScale = 1 / Float(d.headDim).squareRoot()
        let x = ws.x + rowStart * dim, a = ws.a + rowStart * dim, y = ws.y + rowStart * dim
        if let norm = b.crossNorm {
            norm.weight.withPointer { w in norm.bias.withPointer { bias in
                Norm.layerNorm(x, rows: n, dim: dim, weight: w, bias: bias, eps: d.eps, out: a)
            } }
        } else {
            a.update(from: x, count: n * dim)
        }
        b.crossQ.apply(a, rows: n, out: y, scratch: ws.scratch)
        b.crossNormQ.withPointer { wq in
            Modulation.rmsNormRotate(y, rows: n, dim: dim, rowStride: dim, weight: wq, eps: d.eps,
                                     headDim: d.headDim, cos: nil, sin: nil)
        }
        guard Attention.multiHead(
            q: y, qStride: dim, k: kv, kStride: 2 * dim, v: kv + dim, vStride: 2 * dim,
            out: a, outStride: dim, queries: n, keys: keyRows, heads: d.heads, headDim: d.headDim,
            scale: attentionScale, keyBias: keyBias, shouldCancel: shouldCancel) else { return false }
        b.crossOut.apply(a, rows: n, out: y, addBias: false, scratch: ws.scratch)
        b.crossOut.bias.withPointer { bias in
            Modulation.addGated(x, rows: n, dim: dim, y, yStride: dim, bias: bias, gate: nil)
        }
        if let shouldCancel, shouldCancel() { return false }
        return true
    }

    /// A block's feed-forward on LN(x)·(1 + scale) + shift, added through the gate.
    private func feedForwardPart(_ b: WanTransformerBlock, ws: Workspace, tokens n: Int, modulation: UnsafePointer<Float>,
                                 spans: [(Int, Int, Int)]) {
        let d = dimensions, dim = d.dim
        for (rowStart, rows, offset) in spans {
            let m = modulation + offset
            Modulation.layerNorm(ws.x + rowStart * dim, rows: rows, dim: dim, scale: m + 4 * dim, shift: m + 3 * dim,
                                 eps: d.eps, out: ws.a + rowStart * dim)
        }
        b.ffnUp.apply(ws.a, rows: n, out: ws.hidden, scratch: ws.scratch)
        Activation.geluTanh(ws.hidden, count: n * d.ffnDim)
        b.ffnDown.apply(ws.hidden, rows: n, out: ws.y, addBias: false, scratch: ws.scratch)
        b.ffnDown.bias.withPointer { bias in
            for (rowStart, rows, offset) in spans {
                Modulation.addGated(ws.x + rowStart * dim, rows: rows, dim: dim, ws.y + rowStart * dim, yStride: dim,
                                    bias: bias, gate: modulation + offset + 5 * dim)
            }
        }
    }

    // MARK: - Embeddings

    /// diffusers `Timesteps(flip_sin_to_cos=True, downscale_freq_shift=0)` → `TimestepEmbedding`
    /// → (temb, time_proj(SiLU(temb))). The sinusoid is computed in float32 as torch does.
    func timeEmbedding(_ t: Float, scratch: UnsafeMutablePointer<Float>?) -> (temb: [Float], e0: [Float]) {
        let d = dimensions, dim = d.dim
        let half = d.freqDim / 2
        var sinusoid = [Float](repeating: 0, count: d.freqDim)
        let logPeriod = Float(-log(10000.0))
        for i in 0..<half {
            let frequency = expf(logPeriod * Float(i) / Float(half))
            let angle = t * frequency
            sinusoid[i] = cosf(angle)
            sinusoid[half + i] = sinf(angle)
        }
        var hidden = [Float](repeating: 0, count: dim)
        var temb = [Float](repeating: 0, count: dim)
        var e0 = [Float](repeating: 0, count: 6 * dim)
        sinusoid.withPointer { sp in hidden.withMutablePointer { hp in
            timeLinear1.apply(sp, rows: 1, out: hp, scratch: scratch)
            Activation.silu(hp, count: dim)
            temb.withMutablePointer { tp in
                timeLinear2.apply(hp, rows: 1, out: tp, scratch: scratch)
                hp.update(from: tp, count: dim)
                Activation.silu(hp, count: dim)
            }
            e0.withMutablePointer { ep in timeProjection.apply(hp, rows: 1, out: ep, scratch: scratch) }
        } }
        return (temb, e0)
    }

    /// cos/sin of the 3D RoPE angles per token [tokens × headDim/2]: pairs of the frame axis,
    /// then height, then width, each with ω_j = 10000^(−2j/D_axis), built in float64 as
    /// diffusers' `WanRotaryPosEmbed` does.
    func fillRoPETables(grid: (f: Int, h: Int, w: Int), cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let split = dimensions.ropeSplit
        let pairs = dimensions.headDim / 2
        func frequencies(_ axisDim: Int) -> [Double] {
            (0..<(axisDim / 2)).map { 1 / pow(10000.0, Double(2 * $0) / Double(axisDim)) }
        }
        let axes = [(frequencies(split.t), 0), (frequencies(split.h), split.t / 2), (frequencies(split.w), (split.t + split.h) / 2)]
        var token = 0
        for f in 0..<grid.f {
            for h in 0..<grid.h {
                for w in 0..<grid.w {
                    let positions = [f, h, w]
                    for (axis, (omega, offset)) in axes.enumerated() {
                        let pos = Double(positions[axis])
                        for j in 0..<omega.count {
                            let angle = pos * omega[j]
                            cos[token * pairs + offset + j] = Float(Foundation.cos(angle))
                            sin[token * pairs + offset + j] = Float(Foundation.sin(angle))
                        }
                    }
                    token += 1
                }
            }
        }
    }

    /// Patch vectors [tokens × C·pt·ph·pw] in the order of the Conv3d weight (c, kt, kh, kw);
    /// tokens in (frame, row, column) order.
    private func gatherPatches(_ latent: Tensor, grid: (f: Int, h: Int, w: Int), into out: UnsafeMutablePointer<Float>) {
        let d = dimensions
        let (pt, ph, pw) = (d.patchSize[0], d.patchSize[1], d.patchSize[2])
        let (frames, height, width) = (latent.shape[1], latent.shape[2], latent.shape[3])
        let k = d.inChannels * d.patchVolume
        latent.data.withPointer { src in
            var token = 0
            for f in 0..<grid.f { for hp in 0..<grid.h { for wp in 0..<grid.w {
                var idx = token * k
                for c in 0..<d.inChannels { for kt in 0..<pt { for kh in 0..<ph { for kw in 0..<pw {
                    let z = f * pt + kt, y = hp * ph + kh, x = wp * pw + kw
                    out[idx] = src[((c * frames + z) * height + y) * width + x]
                    idx += 1
                } } } }
                token += 1
            } } }
        }
    }

    /// [tokens × (pt·ph·pw·C)] with C fastest → [C, T, H, W].
    private func unpatchify(_ tokensOut: UnsafePointer<Float>, grid: (f: Int, h: Int, w: Int)) -> Tensor {
        let d = dimensions
        let (pt, ph, pw) = (d.patchSize[0], d.patchSize[1], d.patchSize[2])
        let c = d.outChannels
        let (frames, height, width) = (grid.f * pt, grid.h * ph, grid.w * pw)
        var out = [Float](repeating: 0, count: c * frames * height * width)
        let width1 = d.patchVolume * c
        out.withMutablePointer { dst in
            var token = 0
            for f in 0..<grid.f { for hp in 0..<grid.h { for wp in 0..<grid.w {
                let row = tokensOut + token * width1
                var idx = 0
                for kt in 0..<pt { for kh in 0..<ph { for kw in 0..<pw { for ch in 0..<c {
                    let z = f * pt + kt, y = hp * ph + kh, x = wp * pw + kw
                    dst[((ch * frames + z) * height + y) * width + x] = row[idx]
                    idx += 1
                } } } }
                token += 1
            } } }
        }
        return Tensor(unchecked: [c, frames, height, width], data: out)
    }
}

// MARK: - Workspace

/// Per-call buffers of a forward pass (freed when the pass ends).
final class Workspace {
    let x, a, y, qkv, hidden, cos, sin, patches: UnsafeMutablePointer<Float>
    let scratch: UnsafeMutablePointer<Float>?

    init(tokens n: Int, dim: Int, ffnDim: Int, scratch: Int, patchInputs: Int, pairs: Int) {
        func make(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            p.initialize(repeating: 0, count: max(count, 1))
            return p
        }
        x = make(n * dim)
        a = make(n * dim)
        y = make(n * dim)
        qkv = make(n * 3 * dim)
        hidden = make(n * ffnDim)
        cos = make(n * pairs)
        sin = make(n * pairs)
        patches = make(n * patchInputs)
        self.scratch = scratch > 0 ? make(scratch) : nil
    }

    deinit {
        for p in [x, a, y, qkv, hidden, cos, sin, patches] { p.deallocate() }
        scratch?.deallocate()
    }
}
