// Typed configurations for the Wan2.1 components, read from the config.json files of a
// diffusers checkpoint (huggingface/diffusers transformer_wan.py, autoencoder_kl_wan.py,
// scheduling_unipc_multistep.py, scheduling_flow_match_euler_discrete.py; transformers
// configuration_umt5.py). Properties are camelCase; each CodingKeys enum maps them to the
// file's snake_case keys. A key missing from the file takes the default written on the
// property, which is the reference constructor's default; for optional fields an explicit
// null means "none", as Python's None does. `validate()` rejects values that
// are out of range or inconsistent with each other, naming the JSON key.

import Foundation

/// Largest size (channels, layers, vocabulary) a configuration may declare; anything larger
/// is treated as a corrupt file rather than an allocation to attempt.
let maxConfigSize = 1 << 24

/// Range checks that name the configuration type and the JSON key in their errors.
private struct Checker {
    let type: String

    func fail(_ key: String, _ problem: String) -> KinemaError {
        KinemaError.invalidArgument("\(type): \(key) \(problem)")
    }

    /// An integer in 1…maxConfigSize (or `minimum`…maxConfigSize).
    func size(_ value: Int, _ key: String, minimum: Int = 1) throws {
        guard value >= minimum, value <= maxConfigSize else {
            throw fail(key, "must be between \(minimum) and \(maxConfigSize), got \(value)")
        }
    }

    /// A finite number > 0.
    func positive(_ value: Double, _ key: String) throws {
        guard value.isFinite, value > 0 else { throw fail(key, "must be a positive number, got \(value)") }
    }

    /// One of the listed strings.
    func oneOf(_ value: String, _ key: String, _ allowed: [String]) throws {
        guard allowed.contains(value) else {
            throw fail(key, "must be one of \(allowed.map { "'\($0)'" }.joined(separator: ", ")), got '\(value)'")
        }
    }

    /// An unsupported setting (valid for the reference, not implemented here).
    func unsupported(_ key: String, _ problem: String) -> KinemaError {
        KinemaError.unsupported("\(type): \(key) \(problem)")
    }
}

// MARK: - Wan transformer

/// Configuration of the Wan DiT, as diffusers' `WanTransformer3DModel` config.json holds it.
public struct WanTransformerConfig: Decodable, Equatable, Sendable {
    /// (t, h, w) patch of the patch-embedding Conv3d.
    public var patchSize: [Int] = [1, 2, 2]
    public var numAttentionHeads: Int = 40
    public var attentionHeadDim: Int = 128
    /// Latent channels in (16 for Wan2.1, 48 for Wan2.2 TI2V-5B).
    public var inChannels: Int = 16
    public var outChannels: Int = 16
    /// Width of the text encoder output (UMT5 d_model).
    public var textDim: Int = 4096
    /// Size of the sinusoidal timestep embedding.
    public var freqDim: Int = 256
    public var ffnDim: Int = 13824
    public var numLayers: Int = 40
    /// Whether cross-attention has an affine LayerNorm in front (diffusers `norm2`).
    public var crossAttnNorm: Bool = true
    /// q/k normalisation; diffusers always applies RMSNorm over the whole width.
    public var qkNorm: String? = "rms_norm_across_heads"
    public var eps: Double = 1e-6
    /// CLIP image feature width for image-to-video models (nil for text-to-video).
    public var imageDim: Int? = nil
    /// Width of the extra key/value projections for image tokens (I2V; nil for T2V).
    public var addedKVProjDim: Int? = nil
    /// Positions per axis in the RoPE tables.
    public var ropeMaxSeqLen: Int = 1024
    /// Learned position embedding length for first-last-frame models (nil otherwise).
    public var posEmbedSeqLen: Int? = nil

    /// Model width, heads × head size. Meaningful once `validate()` has passed.
    public var dim: Int { numAttentionHeads &* attentionHeadDim }

    /// The reference constructor's defaults (the Wan2.1 14B shape).
    public init() {}

    enum CodingKeys: String, CodingKey {
        case patchSize = "patch_size"
        case numAttentionHeads = "num_attention_heads"
        case attentionHeadDim = "attention_head_dim"
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case textDim = "text_dim"
        case freqDim = "freq_dim"
        case ffnDim = "ffn_dim"
        case numLayers = "num_layers"
        case crossAttnNorm = "cross_attn_norm"
        case qkNorm = "qk_norm"
        case eps
        case imageDim = "image_dim"
        case addedKVProjDim = "added_kv_proj_dim"
        case ropeMaxSeqLen = "rope_max_seq_len"
        case posEmbedSeqLen = "pos_embed_seq_len"
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        patchSize = try c.decodeIfPresent([Int].self, forKey: .patchSize) ?? patchSize
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? numAttentionHeads
        attentionHeadDim = try c.decodeIfPresent(Int.self, forKey: .attentionHeadDim) ?? attentionHeadDim
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? inChannels
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? outChannels
        textDim = try c.decodeIfPresent(Int.self, forKey: .textDim) ?? textDim
        freqDim = try c.decodeIfPresent(Int.self, forKey: .freqDim) ?? freqDim
        ffnDim = try c.decodeIfPresent(Int.self, forKey: .ffnDim) ?? ffnDim
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers) ?? numLayers
        crossAttnNorm = try c.decodeIfPresent(Bool.self, forKey: .crossAttnNorm) ?? crossAttnNorm
        qkNorm = try c.optional(.qkNorm, default: qkNorm)
        eps = try c.decodeIfPresent(Double.self, forKey: .eps) ?? eps
        imageDim = try c.optional(.imageDim, default: imageDim)
        addedKVProjDim = try c.optional(.addedKVProjDim, default: addedKVProjDim)
        ropeMaxSeqLen = try c.decodeIfPresent(Int.self, forKey: .ropeMaxSeqLen) ?? ropeMaxSeqLen
        posEmbedSeqLen = try c.optional(.posEmbedSeqLen, default: posEmbedSeqLen)
    }

    /// Builds the configuration from the original Wan release's config.json (the keys of
    /// `WanModel.__init__`), mapped as diffusers' convert_wan_to_diffusers.py maps them.
    public init(original: WanOriginalConfig) throws {
        try original.validate()
        let check = Checker(type: "WanOriginalConfig")
        switch original.modelType {
        case "t2v", "ti2v":
            break
        case "i2v", "flf2v":
            // Image conditioning: CLIP ViT-H features (1280) through extra k/v projections.
            imageDim = 1280
            addedKVProjDim = original.dim
            if original.modelType == "flf2v" { posEmbedSeqLen = 2 * 257 }
        default:
            throw check.unsupported("model_type", "'\(original.modelType)' is not supported (t2v, i2v, flf2v, ti2v are)")
        }
        patchSize = original.patchSize
        numAttentionHeads = original.numHeads
        attentionHeadDim = original.dim / original.numHeads
        inChannels = original.inDim
        outChannels = original.outDim
        textDim = original.textDim
        freqDim = original.freqDim
        ffnDim = original.ffnDim
        numLayers = original.numLayers
        crossAttnNorm = original.crossAttnNorm
        qkNorm = original.qkNorm ? "rms_norm_across_heads" : nil
        eps = original.eps
        try validate()
    }

    /// Reads a transformer config.json in either layout: diffusers (`num_attention_heads`, …)
    /// or the original Wan release (`dim`, `num_heads`, …), and validates it.
    public static func load(contentsOf url: URL) throws -> WanTransformerConfig {
        let json = try JSONValue.load(url)
        let keys = json.objectValue ?? [:]
        if let className = keys["_class_name"]?.stringValue, className != "WanTransformer3DModel" {
            throw KinemaError.unsupported("\(url.path): _class_name '\(className)' is not supported (WanTransformer3DModel is)")
        }
        let isOriginal = keys["_class_name"] == nil && keys["num_attention_heads"] == nil
            && (keys["dim"] != nil || keys["num_heads"] != nil)
        if isOriginal {
            let original = try decodeConfig(WanOriginalConfig.self, from: url)
            do {
                return try WanTransformerConfig(original: original)
            } catch let error as KinemaError {
                throw KinemaError(error.code, "\(url.path): \(error.message)")
            }
        }
        return try decodeConfig(WanTransformerConfig.self, from: url)
    }

    /// Checks ranges and consistency; errors name the JSON key.
    public func validate() throws {
        let check = Checker(type: "WanTransformerConfig")
        guard patchSize.count == 3 else {
            throw check.fail("patch_size", "must have 3 entries (t, h, w), got \(patchSize)")
        }
        for p in patchSize where p < 1 || p > 64 {
            throw check.fail("patch_size", "entries must be between 1 and 64, got \(patchSize)")
        }
        try check.size(numAttentionHeads, "num_attention_heads")
        try check.size(attentionHeadDim, "attention_head_dim")
        guard attentionHeadDim % 2 == 0 else {
            throw check.fail("attention_head_dim", "must be even (rotary embeddings rotate pairs), got \(attentionHeadDim)")
        }
        let (width, overflow) = numAttentionHeads.multipliedReportingOverflow(by: attentionHeadDim)
        guard !overflow, width <= maxConfigSize else {
            throw check.fail("num_attention_heads", "× attention_head_dim is too large (\(numAttentionHeads) × \(attentionHeadDim))")
        }
        try check.size(inChannels, "in_channels")
        try check.size(outChannels, "out_channels")
        try check.size(textDim, "text_dim")
        try check.size(freqDim, "freq_dim", minimum: 2)
        guard freqDim % 2 == 0 else {
            throw check.fail("freq_dim", "must be even (cosine and sine halves), got \(freqDim)")
        }
        try check.size(ffnDim, "ffn_dim")
        try check.size(numLayers, "num_layers")
        try check.positive(eps, "eps")
        try check.size(ropeMaxSeqLen, "rope_max_seq_len")
        if let qkNorm, qkNorm != "rms_norm_across_heads" {
            throw check.unsupported("qk_norm", "'\(qkNorm)' is not supported (rms_norm_across_heads is)")
        }
        if let imageDim { try check.size(imageDim, "image_dim") }
        if let addedKVProjDim { try check.size(addedKVProjDim, "added_kv_proj_dim") }
        if let posEmbedSeqLen { try check.size(posEmbedSeqLen, "pos_embed_seq_len") }
    }
}

/// The original Wan release's transformer config.json (the arguments of `WanModel.__init__`
/// in Wan-Video/Wan2.1 wan/modules/model.py, with its defaults). The published file lists
/// only dim, eps, ffn_dim, freq_dim, in_dim, model_type, num_heads, num_layers, out_dim and
/// text_len; the other fields take the constructor defaults.
public struct WanOriginalConfig: Decodable, Equatable, Sendable {
    public var modelType: String = "t2v"
    public var patchSize: [Int] = [1, 2, 2]
    /// Text tokens per prompt.
    public var textLen: Int = 512
    public var inDim: Int = 16
    public var dim: Int = 2048
    public var ffnDim: Int = 8192
    public var freqDim: Int = 256
    public var textDim: Int = 4096
    public var outDim: Int = 16
    public var numHeads: Int = 16
    public var numLayers: Int = 32
    /// Local attention window; (-1, -1) is global attention, the only kind Wan2.1 uses.
    public var windowSize: [Int] = [-1, -1]
    public var qkNorm: Bool = true
    public var crossAttnNorm: Bool = true
    public var eps: Double = 1e-6

    /// The constructor defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case patchSize = "patch_size"
        case textLen = "text_len"
        case inDim = "in_dim"
        case dim
        case ffnDim = "ffn_dim"
        case freqDim = "freq_dim"
        case textDim = "text_dim"
        case outDim = "out_dim"
        case numHeads = "num_heads"
        case numLayers = "num_layers"
        case windowSize = "window_size"
        case qkNorm = "qk_norm"
        case crossAttnNorm = "cross_attn_norm"
        case eps
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType) ?? modelType
        patchSize = try c.decodeIfPresent([Int].self, forKey: .patchSize) ?? patchSize
        textLen = try c.decodeIfPresent(Int.self, forKey: .textLen) ?? textLen
        inDim = try c.decodeIfPresent(Int.self, forKey: .inDim) ?? inDim
        dim = try c.decodeIfPresent(Int.self, forKey: .dim) ?? dim
        ffnDim = try c.decodeIfPresent(Int.self, forKey: .ffnDim) ?? ffnDim
        freqDim = try c.decodeIfPresent(Int.self, forKey: .freqDim) ?? freqDim
        textDim = try c.decodeIfPresent(Int.self, forKey: .textDim) ?? textDim
        outDim = try c.decodeIfPresent(Int.self, forKey: .outDim) ?? outDim
        numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads) ?? numHeads
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers) ?? numLayers
        windowSize = try c.decodeIfPresent([Int].self, forKey: .windowSize) ?? windowSize
        qkNorm = try c.decodeIfPresent(Bool.self, forKey: .qkNorm) ?? qkNorm
        crossAttnNorm = try c.decodeIfPresent(Bool.self, forKey: .crossAttnNorm) ?? crossAttnNorm
        eps = try c.decodeIfPresent(Double.self, forKey: .eps) ?? eps
    }

    /// Checks what the mapping to `WanTransformerConfig` relies on; errors name the JSON key.
    public func validate() throws {
        let check = Checker(type: "WanOriginalConfig")
        try check.size(dim, "dim")
        try check.size(numHeads, "num_heads")
        guard dim % numHeads == 0 else {
            throw check.fail("dim", "\(dim) is not divisible by num_heads \(numHeads)")
        }
        try check.size(textLen, "text_len")
        guard windowSize == [-1, -1] else {
            throw check.unsupported("window_size", "\(windowSize) (local attention) is not supported; only [-1, -1] is")
        }
    }
}

// MARK: - Wan VAE

/// Configuration of the Wan video VAE, as diffusers' `AutoencoderKLWan` config.json holds it.
public struct WanVAEConfig: Decodable, Equatable, Sendable {
    public var baseDim: Int = 96
    /// Decoder width when it differs from the encoder's (Wan2.2); nil means `baseDim`.
    public var decoderBaseDim: Int? = nil
    /// Latent channels.
    public var zDim: Int = 16
    public var dimMult: [Int] = [1, 2, 4, 4]
    public var numResBlocks: Int = 2
    public var attnScales: [Double] = []
    /// Which encoder downsampling stages also halve time (JSON key `temperal_downsample`, sic).
    public var temporalDownsample: [Bool] = [false, true, true]
    public var dropout: Double = 0
    /// Per-channel latent mean and standard deviation used to normalise latents.
    public var latentsMean: [Double] = [
        -0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508,
        0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921,
    ]
    public var latentsStd: [Double] = [
        2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743,
        3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.916,
    ]
    /// Residual down/up blocks (the Wan2.2 VAE).
    public var isResidual: Bool = false
    public var inChannels: Int = 3
    public var outChannels: Int = 3
    /// Pixel (un)shuffle factor around the VAE (2 for Wan2.2, nil for Wan2.1).
    public var patchSize: Int? = nil
    public var scaleFactorTemporal: Int? = 4
    public var scaleFactorSpatial: Int? = 8

    /// Frames per latent frame implied by `temporalDownsample`.
    public var temporalCompression: Int { 1 << temporalDownsample.filter { $0 }.count }

    /// Pixels per latent pixel along each side, from `dimMult` and `patchSize`.
    public var spatialCompression: Int { (1 << max(dimMult.count - 1, 0)) &* (patchSize ?? 1) }

    /// Decoder width (`decoderBaseDim`, or `baseDim` when unset).
    public var decoderDim: Int { decoderBaseDim ?? baseDim }

    /// The reference constructor's defaults (the Wan2.1 VAE).
    public init() {}

    enum CodingKeys: String, CodingKey {
        case baseDim = "base_dim"
        case decoderBaseDim = "decoder_base_dim"
        case zDim = "z_dim"
        case dimMult = "dim_mult"
        case numResBlocks = "num_res_blocks"
        case attnScales = "attn_scales"
        case temporalDownsample = "temperal_downsample"
        case dropout
        case latentsMean = "latents_mean"
        case latentsStd = "latents_std"
        case isResidual = "is_residual"
        case inChannels = "in_channels"
        case outChannels = "out_channels"
        case patchSize = "patch_size"
        case scaleFactorTemporal = "scale_factor_temporal"
        case scaleFactorSpatial = "scale_factor_spatial"
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        baseDim = try c.decodeIfPresent(Int.self, forKey: .baseDim) ?? baseDim
        decoderBaseDim = try c.optional(.decoderBaseDim, default: decoderBaseDim)
        zDim = try c.decodeIfPresent(Int.self, forKey: .zDim) ?? zDim
        dimMult = try c.decodeIfPresent([Int].self, forKey: .dimMult) ?? dimMult
        numResBlocks = try c.decodeIfPresent(Int.self, forKey: .numResBlocks) ?? numResBlocks
        attnScales = try c.decodeIfPresent([Double].self, forKey: .attnScales) ?? attnScales
        temporalDownsample = try c.decodeIfPresent([Bool].self, forKey: .temporalDownsample) ?? temporalDownsample
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? dropout
        latentsMean = try c.decodeIfPresent([Double].self, forKey: .latentsMean) ?? latentsMean
        latentsStd = try c.decodeIfPresent([Double].self, forKey: .latentsStd) ?? latentsStd
        isResidual = try c.decodeIfPresent(Bool.self, forKey: .isResidual) ?? isResidual
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? inChannels
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? outChannels
        patchSize = try c.optional(.patchSize, default: patchSize)
        scaleFactorTemporal = try c.optional(.scaleFactorTemporal, default: scaleFactorTemporal)
        scaleFactorSpatial = try c.optional(.scaleFactorSpatial, default: scaleFactorSpatial)
    }

    /// Checks ranges and consistency; errors name the JSON key.
    public func validate() throws {
        let check = Checker(type: "WanVAEConfig")
        try check.size(baseDim, "base_dim")
        if let decoderBaseDim { try check.size(decoderBaseDim, "decoder_base_dim") }
        try check.size(zDim, "z_dim")
        guard !dimMult.isEmpty, dimMult.count <= 8 else {
            throw check.fail("dim_mult", "must have between 1 and 8 entries, got \(dimMult.count)")
        }
        for m in dimMult {
            guard m >= 1, m <= 64 else { throw check.fail("dim_mult", "entries must be between 1 and 64, got \(dimMult)") }
            let (width, overflow) = max(baseDim, decoderDim).multipliedReportingOverflow(by: m)
            guard !overflow, width <= maxConfigSize else { throw check.fail("dim_mult", "\(dimMult) makes the VAE too wide") }
        }
        try check.size(numResBlocks, "num_res_blocks")
        guard temporalDownsample.count == dimMult.count - 1 else {
            throw check.fail("temperal_downsample", "has \(temporalDownsample.count) entries; dim_mult with \(dimMult.count) entries needs \(dimMult.count - 1)")
        }
        for s in attnScales where !(s.isFinite && s >= 0) {
            throw check.fail("attn_scales", "entries must be non-negative numbers, got \(attnScales)")
        }
        guard dropout >= 0, dropout < 1 else { throw check.fail("dropout", "must be in [0, 1), got \(dropout)") }
        guard latentsMean.count == zDim else {
            throw check.fail("latents_mean", "has \(latentsMean.count) entries, z_dim is \(zDim)")
        }
        guard latentsStd.count == zDim else {
            throw check.fail("latents_std", "has \(latentsStd.count) entries, z_dim is \(zDim)")
        }
        for m in latentsMean where !m.isFinite { throw check.fail("latents_mean", "holds a non-finite value") }
        for s in latentsStd where !(s.isFinite && s > 0) {
            throw check.fail("latents_std", "entries must be positive, got \(s)")
        }
        try check.size(inChannels, "in_channels")
        try check.size(outChannels, "out_channels")
        if let patchSize { try check.size(patchSize, "patch_size") }
        if let scaleFactorTemporal, scaleFactorTemporal != temporalCompression {
            throw check.fail("scale_factor_temporal", "is \(scaleFactorTemporal) but temperal_downsample \(temporalDownsample) gives \(temporalCompression)")
        }
        if let scaleFactorSpatial, scaleFactorSpatial != spatialCompression {
            throw check.fail("scale_factor_spatial", "is \(scaleFactorSpatial) but dim_mult \(dimMult) and patch_size give \(spatialCompression)")
        }
    }
}

// MARK: - UMT5 text encoder

/// Configuration of the UMT5 text encoder, as transformers' `UMT5Config` config.json holds it.
public struct UMT5Config: Decodable, Equatable, Sendable {
    public var vocabSize: Int = 250_112
    public var dModel: Int = 512
    /// Width of one attention head.
    public var dKV: Int = 64
    public var dFF: Int = 1024
    public var numLayers: Int = 8
    public var numHeads: Int = 6
    public var relativeAttentionNumBuckets: Int = 32
    public var relativeAttentionMaxDistance: Int = 128
    public var layerNormEpsilon: Double = 1e-6
    /// "gated-gelu", "relu", …: the feed-forward kind, as transformers names it.
    public var feedForwardProj: String = "gated-gelu"
    /// Activation of the feed-forward layer; derived from `feedForwardProj` when absent.
    public var denseActFn: String = "gelu_new"
    /// Whether the feed-forward layer is gated (wi_0, wi_1); derived when absent.
    public var isGatedAct: Bool = true
    public var padTokenId: Int = 0
    public var eosTokenId: Int = 1
    public var tieWordEmbeddings: Bool = true

    /// Inner attention width, heads × head size. Meaningful once `validate()` has passed.
    public var innerDim: Int { numHeads &* dKV }

    /// The reference constructor's defaults (umt5-small).
    public init() {}

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case dModel = "d_model"
        case dKV = "d_kv"
        case dFF = "d_ff"
        case numLayers = "num_layers"
        case numHeads = "num_heads"
        case relativeAttentionNumBuckets = "relative_attention_num_buckets"
        case relativeAttentionMaxDistance = "relative_attention_max_distance"
        case layerNormEpsilon = "layer_norm_epsilon"
        case feedForwardProj = "feed_forward_proj"
        case denseActFn = "dense_act_fn"
        case isGatedAct = "is_gated_act"
        case padTokenId = "pad_token_id"
        case eosTokenId = "eos_token_id"
        case tieWordEmbeddings = "tie_word_embeddings"
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? vocabSize
        dModel = try c.decodeIfPresent(Int.self, forKey: .dModel) ?? dModel
        dKV = try c.decodeIfPresent(Int.self, forKey: .dKV) ?? dKV
        dFF = try c.decodeIfPresent(Int.self, forKey: .dFF) ?? dFF
        numLayers = try c.decodeIfPresent(Int.self, forKey: .numLayers) ?? numLayers
        numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads) ?? numHeads
        relativeAttentionNumBuckets = try c.decodeIfPresent(Int.self, forKey: .relativeAttentionNumBuckets) ?? relativeAttentionNumBuckets
        relativeAttentionMaxDistance = try c.decodeIfPresent(Int.self, forKey: .relativeAttentionMaxDistance) ?? relativeAttentionMaxDistance
        layerNormEpsilon = try c.decodeIfPresent(Double.self, forKey: .layerNormEpsilon) ?? layerNormEpsilon
        feedForwardProj = try c.decodeIfPresent(String.self, forKey: .feedForwardProj) ?? feedForwardProj
        // transformers derives these two from feed_forward_proj; a file may also state them.
        let derived = UMT5Config.activation(of: feedForwardProj)
        denseActFn = try c.decodeIfPresent(String.self, forKey: .denseActFn) ?? derived.function
        isGatedAct = try c.decodeIfPresent(Bool.self, forKey: .isGatedAct) ?? derived.gated
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId) ?? padTokenId
        eosTokenId = try c.decodeIfPresent(Int.self, forKey: .eosTokenId) ?? eosTokenId
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? tieWordEmbeddings
    }

    /// The activation and gating transformers' UMT5Config derives from feed_forward_proj
    /// ("gated-gelu" means the tanh GELU, "gelu_new").
    static func activation(of feedForwardProj: String) -> (function: String, gated: Bool) {
        let parts = feedForwardProj.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        let gated = parts.count == 2 && parts[0] == "gated"
        let function = feedForwardProj == "gated-gelu" ? "gelu_new" : (parts.last ?? feedForwardProj)
        return (function, gated)
    }

    /// Activations the encoder may use.
    public static let supportedActivations = ["gelu_new", "gelu_pytorch_tanh", "gelu", "relu", "silu"]

    /// Checks ranges and consistency; errors name the JSON key.
    public func validate() throws {
        let check = Checker(type: "UMT5Config")
        try check.size(vocabSize, "vocab_size")
        try check.size(dModel, "d_model")
        try check.size(dKV, "d_kv")
        try check.size(dFF, "d_ff")
        try check.size(numLayers, "num_layers")
        try check.size(numHeads, "num_heads")
        let (inner, overflow) = numHeads.multipliedReportingOverflow(by: dKV)
        guard !overflow, inner <= maxConfigSize else {
            throw check.fail("num_heads", "× d_kv is too large (\(numHeads) × \(dKV))")
        }
        // Bidirectional buckets: half per direction, half of those exact, the rest logarithmic
        // up to the maximum distance, so at least 4 buckets and a distance beyond the exact range.
        try check.size(relativeAttentionNumBuckets, "relative_attention_num_buckets", minimum: 4)
        guard relativeAttentionMaxDistance > relativeAttentionNumBuckets / 4, relativeAttentionMaxDistance <= maxConfigSize else {
            throw check.fail("relative_attention_max_distance", "must exceed relative_attention_num_buckets / 4 (\(relativeAttentionNumBuckets / 4)), got \(relativeAttentionMaxDistance)")
        }
        try check.positive(layerNormEpsilon, "layer_norm_epsilon")
        let parts = feedForwardProj.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 1 || (parts.count == 2 && parts[0] == "gated") else {
            throw check.fail("feed_forward_proj", "must be 'ACT' or 'gated-ACT', got '\(feedForwardProj)'")
        }
        let derived = UMT5Config.activation(of: feedForwardProj)
        guard isGatedAct == derived.gated else {
            throw check.fail("is_gated_act", "is \(isGatedAct) but feed_forward_proj is '\(feedForwardProj)'")
        }
        guard UMT5Config.supportedActivations.contains(denseActFn) else {
            throw check.unsupported("dense_act_fn", "'\(denseActFn)' is not supported (\(UMT5Config.supportedActivations.joined(separator: ", ")) are)")
        }
        guard (0..<vocabSize).contains(padTokenId) else {
            throw check.fail("pad_token_id", "must be in 0..<vocab_size (\(vocabSize)), got \(padTokenId)")
        }
        guard (0..<vocabSize).contains(eosTokenId) else {
            throw check.fail("eos_token_id", "must be in 0..<vocab_size (\(vocabSize)), got \(eosTokenId)")
        }
    }
}

// MARK: - Scheduler

/// Configuration of the sampler, as diffusers' scheduler_config.json holds it for
/// `UniPCMultistepScheduler` or `FlowMatchEulerDiscreteScheduler`. Fields that belong to one
/// scheduler keep their defaults when the file is for the other.
public struct SchedulerConfig: Decodable, Equatable, Sendable {
    /// The scheduler classes Kinema implements.
    public enum Kind: String, Sendable, CaseIterable {
        case uniPCMultistep = "UniPCMultistepScheduler"
        case flowMatchEulerDiscrete = "FlowMatchEulerDiscreteScheduler"
    }

    /// Which scheduler (`_class_name`).
    public var kind: Kind = .uniPCMultistep
    public var numTrainTimesteps: Int = 1000
    public var useDynamicShifting: Bool = false
    public var shiftTerminal: Double? = nil
    public var useKarrasSigmas: Bool = false
    public var useExponentialSigmas: Bool = false
    public var useBetaSigmas: Bool = false
    public var timeShiftType: String = "exponential"

    // UniPCMultistepScheduler
    public var solverOrder: Int = 2
    /// "bh1" or "bh2" (B(h) = h or expm1(h)).
    public var solverType: String = "bh2"
    /// "epsilon", "sample", "v_prediction" or "flow_prediction".
    public var predictionType: String = "epsilon"
    public var predictX0: Bool = true
    public var lowerOrderFinal: Bool = true
    /// Steps at which the UniC corrector is skipped.
    public var disableCorrector: [Int] = []
    public var useFlowSigmas: Bool = false
    /// Shift s in σ' = s·σ / (1 + (s−1)·σ) for flow sigmas.
    public var flowShift: Double = 1.0
    /// "zero" or "sigma_min": the σ appended after the last step.
    public var finalSigmasType: String = "zero"
    public var timestepSpacing: String = "linspace"
    public var stepsOffset: Int = 0
    public var thresholding: Bool = false
    public var betaSchedule: String = "linear"
    public var betaStart: Double = 0.0001
    public var betaEnd: Double = 0.02
    public var rescaleBetasZeroSnr: Bool = false
    public var sigmaMin: Double? = nil
    public var sigmaMax: Double? = nil

    // FlowMatchEulerDiscreteScheduler
    /// Shift s of the Euler flow-matching schedule.
    public var shift: Double = 1.0
    public var baseShift: Double? = 0.5
    public var maxShift: Double? = 1.15
    public var baseImageSeqLen: Int = 256
    public var maxImageSeqLen: Int = 4096
    public var invertSigmas: Bool = false
    public var stochasticSampling: Bool = false

    /// The flow-matching shift of whichever scheduler this is (`flow_shift` or `shift`).
    public var flowMatchingShift: Double {
        kind == .uniPCMultistep ? flowShift : shift
    }

    /// UniPC defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case kind = "_class_name"
        case numTrainTimesteps = "num_train_timesteps"
        case useDynamicShifting = "use_dynamic_shifting"
        case shiftTerminal = "shift_terminal"
        case useKarrasSigmas = "use_karras_sigmas"
        case useExponentialSigmas = "use_exponential_sigmas"
        case useBetaSigmas = "use_beta_sigmas"
        case timeShiftType = "time_shift_type"
        case solverOrder = "solver_order"
        case solverType = "solver_type"
        case predictionType = "prediction_type"
        case predictX0 = "predict_x0"
        case lowerOrderFinal = "lower_order_final"
        case disableCorrector = "disable_corrector"
        case useFlowSigmas = "use_flow_sigmas"
        case flowShift = "flow_shift"
        case finalSigmasType = "final_sigmas_type"
        case timestepSpacing = "timestep_spacing"
        case stepsOffset = "steps_offset"
        case thresholding
        case betaSchedule = "beta_schedule"
        case betaStart = "beta_start"
        case betaEnd = "beta_end"
        case rescaleBetasZeroSnr = "rescale_betas_zero_snr"
        case sigmaMin = "sigma_min"
        case sigmaMax = "sigma_max"
        case shift
        case baseShift = "base_shift"
        case maxShift = "max_shift"
        case baseImageSeqLen = "base_image_seq_len"
        case maxImageSeqLen = "max_image_seq_len"
        case invertSigmas = "invert_sigmas"
        case stochasticSampling = "stochastic_sampling"
    }

    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let className = try c.decode(String.self, forKey: .kind)
        guard let kind = Kind(rawValue: className) else {
            throw KinemaError.unsupported("scheduler _class_name '\(className)' is not supported (\(Kind.allCases.map(\.rawValue).joined(separator: ", ")) are)")
        }
        self.kind = kind
        numTrainTimesteps = try c.decodeIfPresent(Int.self, forKey: .numTrainTimesteps) ?? numTrainTimesteps
        useDynamicShifting = try c.decodeIfPresent(Bool.self, forKey: .useDynamicShifting) ?? useDynamicShifting
        shiftTerminal = try c.optional(.shiftTerminal, default: shiftTerminal)
        useKarrasSigmas = try c.decodeIfPresent(Bool.self, forKey: .useKarrasSigmas) ?? useKarrasSigmas
        useExponentialSigmas = try c.decodeIfPresent(Bool.self, forKey: .useExponentialSigmas) ?? useExponentialSigmas
        useBetaSigmas = try c.decodeIfPresent(Bool.self, forKey: .useBetaSigmas) ?? useBetaSigmas
        timeShiftType = try c.decodeIfPresent(String.self, forKey: .timeShiftType) ?? timeShiftType
        solverOrder = try c.decodeIfPresent(Int.self, forKey: .solverOrder) ?? solverOrder
        solverType = try c.decodeIfPresent(String.self, forKey: .solverType) ?? solverType
        predictionType = try c.decodeIfPresent(String.self, forKey: .predictionType) ?? predictionType
        predictX0 = try c.decodeIfPresent(Bool.self, forKey: .predictX0) ?? predictX0
        lowerOrderFinal = try c.decodeIfPresent(Bool.self, forKey: .lowerOrderFinal) ?? lowerOrderFinal
        disableCorrector = try c.decodeIfPresent([Int].self, forKey: .disableCorrector) ?? disableCorrector
        useFlowSigmas = try c.decodeIfPresent(Bool.self, forKey: .useFlowSigmas) ?? useFlowSigmas
        flowShift = try c.decodeIfPresent(Double.self, forKey: .flowShift) ?? flowShift
        finalSigmasType = try c.decodeIfPresent(String.self, forKey: .finalSigmasType) ?? finalSigmasType
        timestepSpacing = try c.decodeIfPresent(String.self, forKey: .timestepSpacing) ?? timestepSpacing
        stepsOffset = try c.decodeIfPresent(Int.self, forKey: .stepsOffset) ?? stepsOffset
        thresholding = try c.decodeIfPresent(Bool.self, forKey: .thresholding) ?? thresholding
        betaSchedule = try c.decodeIfPresent(String.self, forKey: .betaSchedule) ?? betaSchedule
        betaStart = try c.decodeIfPresent(Double.self, forKey: .betaStart) ?? betaStart
        betaEnd = try c.decodeIfPresent(Double.self, forKey: .betaEnd) ?? betaEnd
        rescaleBetasZeroSnr = try c.decodeIfPresent(Bool.self, forKey: .rescaleBetasZeroSnr) ?? rescaleBetasZeroSnr
        sigmaMin = try c.optional(.sigmaMin, default: sigmaMin)
        sigmaMax = try c.optional(.sigmaMax, default: sigmaMax)
        shift = try c.decodeIfPresent(Double.self, forKey: .shift) ?? shift
        baseShift = try c.optional(.baseShift, default: baseShift)
        maxShift = try c.optional(.maxShift, default: maxShift)
        baseImageSeqLen = try c.decodeIfPresent(Int.self, forKey: .baseImageSeqLen) ?? baseImageSeqLen
        maxImageSeqLen = try c.decodeIfPresent(Int.self, forKey: .maxImageSeqLen) ?? maxImageSeqLen
        invertSigmas = try c.decodeIfPresent(Bool.self, forKey: .invertSigmas) ?? invertSigmas
        stochasticSampling = try c.decodeIfPresent(Bool.self, forKey: .stochasticSampling) ?? stochasticSampling
    }

    /// Checks ranges and consistency for the scheduler `kind`; errors name the JSON key.
    public func validate() throws {
        let check = Checker(type: "SchedulerConfig (\(kind.rawValue))")
        try check.size(numTrainTimesteps, "num_train_timesteps")
        let sigmaKinds = [useKarrasSigmas, useExponentialSigmas, useBetaSigmas].filter { $0 }.count
        guard sigmaKinds <= 1 else {
            throw check.fail("use_karras_sigmas,", "use_exponential_sigmas and use_beta_sigmas exclude each other; \(sigmaKinds) are set")
        }
        try check.oneOf(timeShiftType, "time_shift_type", ["exponential", "linear"])
        if let shiftTerminal, !(shiftTerminal > 0 && shiftTerminal < 1) {
            throw check.fail("shift_terminal", "must be in (0, 1), got \(shiftTerminal)")
        }
        switch kind {
        case .uniPCMultistep:
            guard (1...3).contains(solverOrder) else { throw check.fail("solver_order", "must be 1, 2 or 3, got \(solverOrder)") }
            try check.oneOf(solverType, "solver_type", ["bh1", "bh2"])
            try check.oneOf(predictionType, "prediction_type", ["epsilon", "sample", "v_prediction", "flow_prediction"])
            try check.oneOf(finalSigmasType, "final_sigmas_type", ["zero", "sigma_min"])
            try check.oneOf(timestepSpacing, "timestep_spacing", ["linspace", "leading", "trailing"])
            try check.positive(flowShift, "flow_shift")
            for step in disableCorrector where step < 0 {
                throw check.fail("disable_corrector", "entries must be step indices ≥ 0, got \(disableCorrector)")
            }
            guard stepsOffset >= 0 else { throw check.fail("steps_offset", "must be ≥ 0, got \(stepsOffset)") }
            guard betaStart.isFinite, betaEnd.isFinite, betaStart > 0, betaStart <= betaEnd, betaEnd < 1 else {
                throw check.fail("beta_start", "and beta_end must satisfy 0 < beta_start ≤ beta_end < 1, got \(betaStart), \(betaEnd)")
            }
        case .flowMatchEulerDiscrete:
            try check.positive(shift, "shift")
            if useDynamicShifting {
                guard let baseShift, let maxShift, baseShift.isFinite, maxShift.isFinite else {
                    throw check.fail("base_shift", "and max_shift are required with use_dynamic_shifting")
                }
                guard baseImageSeqLen >= 1, maxImageSeqLen > baseImageSeqLen else {
                    throw check.fail("max_image_seq_len", "must exceed base_image_seq_len (\(baseImageSeqLen)), got \(maxImageSeqLen)")
                }
            }
        }
    }
}

// MARK: - Loading

/// Decodes a JSON configuration file and validates it. A missing file is `.missingComponent`,
/// malformed JSON or a wrongly typed key `.corruptFile`, a value out of range
/// `.invalidArgument`; every message starts with the file's path.
func decodeConfig<T: Decodable>(_ type: T.Type, from url: URL) throws -> T {
    let data = try readFile(url)
    do {
        let value = try JSONDecoder().decode(T.self, from: data)
        if let config = value as? any ValidatedConfig { try config.validate() }
        return value
    } catch let error as DecodingError {
        if case .dataCorrupted(let context) = error, context.codingPath.isEmpty {
            throw KinemaError.corrupt("\(url.path): not valid JSON (\(JSONValue.syntaxErrorDetail(data) ?? describe(error)))")
        }
        throw KinemaError.corrupt("\(url.path): \(describe(error))")
    } catch let error as KinemaError {
        throw KinemaError(error.code, "\(url.path): \(error.message)")
    }
}

extension KeyedDecodingContainer {
    /// An optional field: absent keeps `current` (the default), an explicit null is nil.
    func optional<T: Decodable>(_ key: Key, default current: T?) throws -> T? {
        contains(key) ? try decodeIfPresent(T.self, forKey: key) : current
    }
}

/// A configuration with a `validate()` step, run by `decodeConfig` after decoding.
protocol ValidatedConfig {
    func validate() throws
}

extension WanTransformerConfig: ValidatedConfig {}
extension WanOriginalConfig: ValidatedConfig {}
extension WanVAEConfig: ValidatedConfig {}
extension UMT5Config: ValidatedConfig {}
extension SchedulerConfig: ValidatedConfig {}

extension WanVAEConfig {
    /// Reads and validates a VAE config.json.
    public static func load(contentsOf url: URL) throws -> WanVAEConfig {
        try decodeConfig(WanVAEConfig.self, from: url)
    }
}

extension UMT5Config {
    /// Reads and validates a text encoder config.json.
    public static func load(contentsOf url: URL) throws -> UMT5Config {
        try decodeConfig(UMT5Config.self, from: url)
    }
}

extension SchedulerConfig {
    /// Reads and validates a scheduler_config.json.
    public static func load(contentsOf url: URL) throws -> SchedulerConfig {
        try decodeConfig(SchedulerConfig.self, from: url)
    }
}
