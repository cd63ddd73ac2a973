// UMT5 encoder, as transformers' UMT5EncoderModel computes it (models/umt5/modeling_umt5.py:
// UMT5Stack, UMT5Block, UMT5Attention, UMT5LayerFF); Wan2.1 wan/modules/t5.py T5Encoder is the
// same network.

import Foundation

/// The UMT5 text encoder: token embedding, `numLayers` pre-norm transformer layers with a
/// relative position bias of their own, and a final RMSNorm.
///
/// Only the real tokens are run. Wan pads prompts to 512 tokens with a mask that gives pad
/// keys zero weight; since the position bias depends only on key − query distance, rows
/// 0..<L of the padded run equal the unpadded run, and skipping the padding saves most of
/// the work for a typical prompt.
///
/// An encoder is immutable once loaded: `encode` allocates its own buffers, so one encoder can
/// serve several threads at once.
public final class UMT5Encoder: Sendable {
    public let config: UMT5Config
    let embedding: WeightData
    let layers: [UMT5Layer]
    let finalNorm: [Float]

    /// Queries per attention call are limited so that the position-bias block
    /// (heads × queries × keys floats) stays under this many values for long inputs.
    static let maxBiasValues = 1 << 24

    /// Longest accepted prompt. UMT5 is trained on 512-token inputs and Wan encodes at most
    /// 512; the limit keeps an absurd input from asking for gigabytes of activations
    /// (about 2 GB at this length for UMT5-XXL, 232 KB per token).
    public static let maxTokens = 8192

    public init(weights: UMT5Weights) {
        self.config = weights.config
        self.embedding = weights.embedding
        self.layers = weights.layers.map { UMT5Layer(config: weights.config, weights: $0) }
        self.finalNorm = weights.finalNorm
    }

    /// Loads a diffusers `text_encoder/` folder (config.json plus safetensors).
    public convenience init(directory: URL) throws {
        self.init(weights: try UMT5Weights.load(directory: directory))
    }

    /// Loads the text encoder of a diffusers Wan pipeline folder.
    public convenience init(model: ModelDirectory) throws {
        self.init(weights: try UMT5Weights(config: model.textEncoderConfig, source: model.weights(for: .textEncoder)))
    }

    /// Encodes the token ids of one prompt (no padding) and returns `last_hidden_state`,
    /// [ids.count, d_model]. Every id must lie in 0..<vocab_size, and there may be at most
    /// `maxTokens` of them. Cancellation is checked before each layer.
    public func encode(ids: [Int32], cancel: CancellationToken? = nil) throws -> Tensor {
        let length = ids.count
        let d = config.dModel
        guard length > 0 else {
            throw KinemaError.invalidArgument("UMT5Encoder.encode: no token ids (a tokenized prompt holds at least </s>)")
        }
        guard length <= UMT5Encoder.maxTokens else {
            throw KinemaError.invalidArgument("UMT5Encoder.encode: \(length) token ids exceed the limit of \(UMT5Encoder.maxTokens)")
        }
        for (position, id) in ids.enumerated() where id < 0 || Int(id) >= config.vocabSize {
            throw KinemaError.invalidArgument(
                "UMT5Encoder.encode: token id \(id) at position \(position) is outside the vocabulary 0..<\(config.vocabSize)")
        }
        try cancel?.check()

        var hidden = [Float](repeating: 0, count: length * d)
        hidden.withMutablePointer { x in
            for (row, id) in ids.enumerated() {
                embedding.widenRows(Int(id)..<Int(id) + 1, into: x + row * d)
            }
        }
        let buckets = UMT5RelativePosition.bucketsByDistance(
            length: length, numBuckets: config.relativeAttentionNumBuckets,
            maxDistance: config.relativeAttentionMaxDistance)
        let queryBlock = max(1, min(length, UMT5Encoder.maxBiasValues / max(1, config.numHeads * length)))
        let scratch = UMT5Layer.Scratch(config: config, length: length, queryBlock: queryBlock)
        defer { scratch.deallocate() }
        for layer in layers {
            try cancel?.check()
            hidden.withMutablePointer { x in
                layer.forward(x, length: length, bucketsByDistance: buckets, queryBlock: queryBlock, scratch: scratch)
            }
        }
        try cancel?.check()

        var out = [Float](repeating: 0, count: length * d)
        hidden.withPointer { x in
            finalNorm.withPointer { w in
                out.withMutablePointer { o in
                    Norm.rmsNorm(x, rows: length, dim: d, weight: w, eps: Float(config.layerNormEpsilon), out: o)
                }
            }
        }
        return Tensor(unchecked: [length, d], data: out)
    }

    /// The context the Wan pipeline hands the DiT: the prompt's rows followed by zero rows up to
    /// `textLength`, [textLength, d_model]. Ids beyond `textLength` are dropped before encoding
    /// (the tokenizer normally truncates already, ending the kept ids with </s>).
    public func encodeForDiT(ids: [Int32], textLength: Int = 512, cancel: CancellationToken? = nil) throws -> Tensor {
        guard textLength > 0 else {
            throw KinemaError.invalidArgument("UMT5Encoder.encodeForDiT: textLength must be positive, got \(textLength)")
        }
        let kept = Array(ids.prefix(textLength))
        let encoded = try encode(ids: kept, cancel: cancel)
        var context = [Float](repeating: 0, count: textLength * config.dModel)
        context.replaceSubrange(0..<encoded.count, with: encoded.data)
        return Tensor(unchecked: [textLength, config.dModel], data: context)
    }
}

// MARK: - Layer

/// One encoder layer (UMT5Block without cross-attention):
/// x += O·Attention(RMSNorm₁(x)); x += FFN(RMSNorm₂(x)).
struct UMT5Layer: Sendable {
    let weights: UMT5LayerWeights
    let dModel: Int
    let heads: Int
    let headDim: Int
    let feedForwardWidth: Int
    let gated: Bool
    let activation: String
    let eps: Float

    init(config: UMT5Config, weights: UMT5LayerWeights) {
        self.weights = weights
        self.dModel = config.dModel
        self.heads = config.numHeads
        self.headDim = config.dKV
        self.feedForwardWidth = config.dFF
        self.gated = config.isGatedAct
        self.activation = config.denseActFn
        self.eps = Float(config.layerNormEpsilon)
    }

    /// Buffers of one `encode` call, shared by its layers.
    final class Scratch {
        let normed: UnsafeMutablePointer<Float>
        let qkv: UnsafeMutablePointer<Float>
        let attention: UnsafeMutablePointer<Float>
        let feedForward: UnsafeMutablePointer<Float>
        let bias: UnsafeMutablePointer<Float>
        /// Input rows re-laid out by `PackedLinearWeight.apply`.
        let packedInput: UnsafeMutablePointer<Float>

        init(config: UMT5Config, length: Int, queryBlock: Int) {
            let inner = config.innerDim
            packedInput = .allocate(capacity: length * max(config.dModel, inner, config.dFF))
            normed = .allocate(capacity: length * config.dModel)
            qkv = .allocate(capacity: length * 3 * inner)
            attention = .allocate(capacity: length * inner)
            feedForward = .allocate(capacity: length * config.dFF * (config.isGatedAct ? 2 : 1))
            bias = .allocate(capacity: config.numHeads * queryBlock * length)
        }

        func deallocate() {
            normed.deallocate(); qkv.deallocate(); attention.deallocate()
            feedForward.deallocate(); bias.deallocate(); packedInput.deallocate()
        }
    }

    /// Runs the layer in place on x [length, d_model].
    func forward(
        _ x: UnsafeMutablePointer<Float>, length: Int, bucketsByDistance: [Int32],
        queryBlock: Int, scratch: Scratch
    ) {
        let d = dModel, inner = heads * headDim
        weights.attentionNorm.withPointer { w in
            Norm.rmsNorm(x, rows: length, dim: d, weight: w, eps: eps, out: scratch.normed)
        }
        let workspace = scratch.packedInput
        weights.qkv.apply(scratch.normed, rows: length, rowStride: d, out: scratch.qkv, outStride: 3 * inner, workspace: workspace)

        var q0 = 0
        while q0 < length {
            let count = min(queryBlock, length - q0)
            fillPositionBias(scratch.bias, queries: q0..<q0 + count, keys: length, bucketsByDistance: bucketsByDistance)
            // T5 attention logits are q·k without the 1/√d scaling.
            Attention.multiHead(
                q: scratch.qkv + q0 * 3 * inner, qStride: 3 * inner,
                k: scratch.qkv + inner, kStride: 3 * inner,
                v: scratch.qkv + 2 * inner, vStride: 3 * inner,
                out: scratch.attention + q0 * inner, outStride: inner,
                queries: count, keys: length, heads: heads, headDim: headDim,
                scale: 1, logitBias: scratch.bias)
            q0 += count
        }
        weights.attentionOutput.apply(scratch.attention, rows: length, rowStride: inner, out: x, outStride: d,
                                      accumulate: true, workspace: workspace)

        weights.feedForwardNorm.withPointer { w in
            Norm.rmsNorm(x, rows: length, dim: d, weight: w, eps: eps, out: scratch.normed)
        }
        let ff = feedForwardWidth
        let width = gated ? 2 * ff : ff
        weights.feedForwardInput.apply(scratch.normed, rows: length, rowStride: d, out: scratch.feedForward, outStride: width,
                                       workspace: workspace)
        let hidden = scratch.feedForward
        let activation = self.activation
        Compute.parallelChunks(length) { start, end in
            for row in start..<end {
                let h = hidden + row * width
                UMT5Layer.activate(activation, h, count: ff)
                if gated {
                    // act(wi_0·x) ⊙ (wi_1·x), written over the activated half.
                    let linear = h + ff
                    var j = 0
                    while j + vecWidth <= ff {
                        storeVec(loadVec(h + j) * loadVec(linear + j), h + j)
                        j += vecWidth
                    }
                    while j < ff { h[j] *= linear[j]; j += 1 }
                }
            }
        }
        weights.feedForwardOutput.apply(hidden, rows: length, rowStride: width, out: x, outStride: d,
                                        accumulate: true, workspace: workspace)
    }

    /// bias[h][q][k] = table[bucket(k − q)][h] for the query rows `queries` and all keys.
    func fillPositionBias(
        _ bias: UnsafeMutablePointer<Float>, queries: Range<Int>, keys: Int, bucketsByDistance: [Int32]
    ) {
        let heads = self.heads, count = queries.count
        weights.relativeAttentionBias.withPointer { table in
            bucketsByDistance.withUnsafeBufferPointer { buckets in
                Compute.parallelChunks(heads) { start, end in
                    for h in start..<end {
                        for (r, query) in queries.enumerated() {
                            let row = bias + (h * count + r) * keys
                            // bucketsByDistance[k − q + keys − 1]
                            let offset = keys - 1 - query
                            for key in 0..<keys {
                                row[key] = table[Int(buckets[key + offset]) * heads + h]
                            }
                        }
                    }
                }
            }
        }
    }

    /// The feed-forward activation named by `dense_act_fn`, in place.
    static func activate(_ name: String, _ x: UnsafeMutablePointer<Float>, count: Int) {
        switch name {
        case "gelu": Activation.geluErf(x, count: count)
        case "relu": for i in 0..<count { x[i] = max(x[i], 0) }
        case "silu": Activation.silu(x, count: count)
        default: Activation.geluTanh(x, count: count)  // gelu_new, gelu_pytorch_tanh
        }
    }
}

// MARK: - Relative position buckets

/// T5's bidirectional relative-position buckets, computed exactly as transformers'
/// `UMT5Attention._relative_position_bucket` does for the encoder.
enum UMT5RelativePosition {
    /// The bucket of `relativePosition` = key position − query position.
    ///
    /// Half of the buckets hold positive distances. Within each half, distances below a quarter
    /// of the buckets get one bucket each; larger ones share logarithmically wider buckets up to
    /// `maxDistance`, and everything beyond lands in the last bucket. The logarithm is taken in
    /// float32 and truncated, as the reference does with float32 tensors: at distances where the
    /// exact value is an integer (e.g. 16, 32, 64 for 32 buckets / 128) the float32 rounding
    /// decides the bucket, so double precision would not reproduce it in general.
    /// The caller guarantees a validated configuration: numBuckets ≥ 4 and maxDistance > numBuckets / 4.
    static func bucket(_ relativePosition: Int, numBuckets: Int, maxDistance: Int) -> Int {
        let half = numBuckets / 2
        let base = relativePosition > 0 ? half : 0
        let distance = relativePosition.magnitude
        let maxExact = half / 2
        if distance < UInt(maxExact) { return base + Int(distance) }
        // torch: log(d.float() / max_exact) / math.log(max_distance / max_exact) * (half - max_exact),
        // each operation in float32 (the Python scalars are rounded to float32 first).
        let ratio = Float(distance) / Float(maxExact)
        let scale = Float(Foundation.log(Double(maxDistance) / Double(maxExact)))
        let scaled = Foundation.logf(ratio) / scale * Float(half - maxExact)
        let large = maxExact + Int(scaled)  // .to(torch.long) truncates toward zero
        return base + min(large, half - 1)
    }

    /// Buckets for every distance k − q of a `length`-token sequence, indexed by
    /// k − q + length − 1.
    static func bucketsByDistance(length: Int, numBuckets: Int, maxDistance: Int) -> [Int32] {
        (0..<(2 * length - 1)).map { Int32(bucket($0 - (length - 1), numBuckets: numBuckets, maxDistance: maxDistance)) }
    }
}
