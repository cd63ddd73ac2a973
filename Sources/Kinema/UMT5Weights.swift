// Tensor names and strict loading for the UMT5 encoder, following the state dict of
// transformers' UMT5EncoderModel (models/umt5/modeling_umt5.py) and, for checkpoints of the
// original Wan release, the module names of Wan2.1 wan/modules/t5.py (T5Encoder).

import Foundation

/// The tensors of one encoder layer, with the linear layers packed for `PackedLinearWeight.apply`.
public struct UMT5LayerWeights: Sendable {
    /// `layer.0.layer_norm.weight` [d_model]: the RMSNorm in front of self-attention.
    public let attentionNorm: [Float]
    /// `SelfAttention.q`, `.k`, `.v` stacked into one [3·inner, d_model] projection.
    public let qkv: PackedLinearWeight
    /// `SelfAttention.o` [d_model, inner].
    public let attentionOutput: PackedLinearWeight
    /// `SelfAttention.relative_attention_bias.weight` [num_buckets, num_heads], row-major.
    public let relativeAttentionBias: [Float]
    /// `layer.1.layer_norm.weight` [d_model]: the RMSNorm in front of the feed-forward block.
    public let feedForwardNorm: [Float]
    /// Gated: `wi_0` (activation branch) and `wi_1` (linear branch) stacked into [2·d_ff,
    /// d_model]; otherwise `wi` [d_ff, d_model].
    public let feedForwardInput: PackedLinearWeight
    /// `wo` [d_model, d_ff].
    public let feedForwardOutput: PackedLinearWeight

    /// Groups one layer's tensors; `UMT5Weights.init` checks them against the configuration.
    public init(
        attentionNorm: [Float], qkv: PackedLinearWeight, attentionOutput: PackedLinearWeight,
        relativeAttentionBias: [Float], feedForwardNorm: [Float],
        feedForwardInput: PackedLinearWeight, feedForwardOutput: PackedLinearWeight
    ) {
        self.attentionNorm = attentionNorm
        self.qkv = qkv
        self.attentionOutput = attentionOutput
        self.relativeAttentionBias = relativeAttentionBias
        self.feedForwardNorm = feedForwardNorm
        self.feedForwardInput = feedForwardInput
        self.feedForwardOutput = feedForwardOutput
    }
}

/// Every tensor of a UMT5 encoder, checked against its configuration.
///
/// The token embedding stays in its stored precision (for UMT5-XXL in bf16 it is 2.1 GB;
/// float32 would double that) and only the rows a prompt uses are widened. The linear layers
/// are packed from their stored 16-bit form without widening.
public struct UMT5Weights: Sendable {
    public let config: UMT5Config
    /// Token embedding [vocab_size, d_model].
    public let embedding: WeightData
    public let layers: [UMT5LayerWeights]
    /// `encoder.final_layer_norm.weight` [d_model].
    public let finalNorm: [Float]

    /// Bytes held by the weights (embedding, packed linears, norms and bias tables).
    public var byteCount: Int {
        var total = embedding.count * embedding.dtype.byteSize + finalNorm.count * 4
        for layer in layers {
            total += layer.qkv.byteCount + layer.attentionOutput.byteCount
            total += layer.feedForwardInput.byteCount + layer.feedForwardOutput.byteCount
            total += 4 * (layer.attentionNorm.count + layer.feedForwardNorm.count + layer.relativeAttentionBias.count)
        }
        return total
    }

    /// Loads the encoder from `source`, named as transformers saves `UMT5EncoderModel` (the
    /// diffusers `text_encoder/` folder) or as the original Wan release names its T5 encoder
    /// (`token_embedding.weight`, `blocks.N.…`; recognised by the embedding's name).
    ///
    /// The check is strict: a missing tensor, an unexpected tensor or a wrong shape is one
    /// error listing every such name. Two kinds of names are accepted without being read:
    /// - `shared.weight` beside `encoder.embed_tokens.weight`: transformers ties the two and
    ///   the encoder reads `encoder.embed_tokens.weight` when both are stored.
    /// - `decoder.…` and `lm_head.weight`: a full encoder–decoder checkpoint (such as
    ///   google/umt5-xxl) holds them; the decoder half has no part in encoding text.
    /// Tensors are read and packed one at a time, so loading needs little memory beyond the
    /// packed result.
    public init(config: UMT5Config, source: any TensorSource) throws {
        try config.validate()
        try Compute.requireSupportedCPU()
        let renamed: any TensorSource
        if source.contains(UMT5WeightNames.wanEmbedding) {
            renamed = try RenamedTensorSource(source) { UMT5WeightNames.transformersName(forWan: $0) }
        } else {
            renamed = try RenamedTensorSource(source) { UMT5WeightNames.isIgnored($0) ? nil : $0 }
        }
        let names = UMT5WeightNames(config: config)
        let embeddingName = renamed.contains(UMT5WeightNames.encoderEmbedding)
            ? UMT5WeightNames.encoderEmbedding : UMT5WeightNames.sharedEmbedding
        var expected = names.expectedShapes()
        expected[embeddingName] = [config.vocabSize, config.dModel]
        if embeddingName == UMT5WeightNames.encoderEmbedding, renamed.contains(UMT5WeightNames.sharedEmbedding) {
            expected[UMT5WeightNames.sharedEmbedding] = [config.vocabSize, config.dModel]
        }
        try renamed.checkTensors(expected)

        // The embedding (a quarter of UMT5-XXL) is read first, while little else is held: a
        // reader that keeps a tensor's file pages mapped during the copy then peaks early.
        let embedding = try renamed.weight(embeddingName)
        var layers: [UMT5LayerWeights] = []
        layers.reserveCapacity(config.numLayers)
        for i in 0..<config.numLayers {
            let input: PackedLinearWeight
            if config.isGatedAct {
                input = try PackedLinearWeight(stacking: [
                    renamed.weight(names.feedForward(i, "wi_0")), renamed.weight(names.feedForward(i, "wi_1")),
                ])
            } else {
                input = try PackedLinearWeight(renamed.weight(names.feedForward(i, "wi")))
            }
            layers.append(UMT5LayerWeights(
                attentionNorm: try renamed.tensor(names.attentionNorm(i)).data,
                qkv: try PackedLinearWeight(stacking: [
                    renamed.weight(names.attention(i, "q")), renamed.weight(names.attention(i, "k")),
                    renamed.weight(names.attention(i, "v")),
                ]),
                attentionOutput: try PackedLinearWeight(renamed.weight(names.attention(i, "o"))),
                relativeAttentionBias: try renamed.tensor(names.relativeAttentionBias(i)).data,
                feedForwardNorm: try renamed.tensor(names.feedForwardNorm(i)).data,
                feedForwardInput: input,
                feedForwardOutput: try PackedLinearWeight(renamed.weight(names.feedForward(i, "wo")))))
        }
        try self.init(config: config, embedding: embedding, layers: layers,
                      finalNorm: renamed.tensor(UMT5WeightNames.finalNorm).data)
    }

    /// Assembles weights built elsewhere (converted, generated), checking every size against
    /// `config`; a mismatch is an error naming the layer and the tensor.
    public init(config: UMT5Config, embedding: WeightData, layers: [UMT5LayerWeights], finalNorm: [Float]) throws {
        try config.validate()
        try Compute.requireSupportedCPU()
        let d = config.dModel, inner = config.innerDim, ff = config.dFF
        func require(_ condition: Bool, _ what: @autoclosure () -> String) throws {
            if !condition { throw KinemaError.shape("UMT5Weights: \(what())") }
        }
        try require(embedding.shape == [config.vocabSize, d], "embedding is \(embedding.shape), expected [\(config.vocabSize), \(d)]")
        try require(layers.count == config.numLayers, "\(layers.count) layers, the configuration has \(config.numLayers)")
        try require(finalNorm.count == d, "final norm has \(finalNorm.count) values, expected \(d)")
        func shape(_ w: PackedLinearWeight) -> String { "[\(w.outFeatures), \(w.inFeatures)]" }
        for (i, layer) in layers.enumerated() {
            try require(layer.attentionNorm.count == d, "layer \(i) attention norm has \(layer.attentionNorm.count) values, expected \(d)")
            try require(layer.feedForwardNorm.count == d, "layer \(i) feed-forward norm has \(layer.feedForwardNorm.count) values, expected \(d)")
            try require(layer.relativeAttentionBias.count == config.relativeAttentionNumBuckets * config.numHeads,
                        "layer \(i) relative attention bias has \(layer.relativeAttentionBias.count) values, expected \(config.relativeAttentionNumBuckets) × \(config.numHeads)")
            try require(layer.qkv.outFeatures == 3 * inner && layer.qkv.inFeatures == d,
                        "layer \(i) q/k/v projection is \(shape(layer.qkv)), expected [\(3 * inner), \(d)]")
            try require(layer.attentionOutput.outFeatures == d && layer.attentionOutput.inFeatures == inner,
                        "layer \(i) attention output is \(shape(layer.attentionOutput)), expected [\(d), \(inner)]")
            let width = config.isGatedAct ? 2 * ff : ff
            try require(layer.feedForwardInput.outFeatures == width && layer.feedForwardInput.inFeatures == d,
                        "layer \(i) feed-forward input is \(shape(layer.feedForwardInput)), expected [\(width), \(d)]")
            try require(layer.feedForwardOutput.outFeatures == d && layer.feedForwardOutput.inFeatures == ff,
                        "layer \(i) feed-forward output is \(shape(layer.feedForwardOutput)), expected [\(d), \(ff)]")
        }
        self.config = config
        self.embedding = embedding
        self.layers = layers
        self.finalNorm = finalNorm
    }

    /// Loads a diffusers `text_encoder/` folder: `config.json` plus `model.safetensors` or a
    /// sharded `model.safetensors.index.json`.
    public static func load(directory: URL) throws -> UMT5Weights {
        let config = try UMT5Config.load(contentsOf: directory.appendingPathComponent("config.json"))
        let source = try SafeTensorsCollection(directory: directory, prefix: "model")
        return try UMT5Weights(config: config, source: source)
    }
}

extension UMT5Config {
    /// UMT5-XXL as Wan2.1 builds its text encoder (`umt5_xxl` in wan/modules/t5.py, equal to
    /// google/umt5-xxl's config.json). The original release ships only the weights, so a
    /// checkpoint in its naming is loaded with this configuration.
    public static var umt5XXL: UMT5Config {
        var config = UMT5Config()
        config.vocabSize = 256_384
        config.dModel = 4096
        config.dKV = 64
        config.dFF = 10240
        config.numLayers = 24
        config.numHeads = 64
        config.relativeAttentionNumBuckets = 32
        config.relativeAttentionMaxDistance = 128
        config.layerNormEpsilon = 1e-6
        config.feedForwardProj = "gated-gelu"
        config.denseActFn = "gelu_new"
        config.isGatedAct = true
        return config
    }
}

/// The state-dict names of `UMT5EncoderModel`, and the renaming of the original Wan names.
public struct UMT5WeightNames: Sendable {
    public let config: UMT5Config

    public init(config: UMT5Config) {
        self.config = config
    }

    /// Names transformers saves the (tied) token embedding under; either may be present.
    public static let sharedEmbedding = "shared.weight"
    public static let encoderEmbedding = "encoder.embed_tokens.weight"
    public static let finalNorm = "encoder.final_layer_norm.weight"
    /// The token embedding's name in the original Wan release.
    static let wanEmbedding = "token_embedding.weight"

    func block(_ i: Int) -> String { "encoder.block.\(i)" }
    func attentionNorm(_ i: Int) -> String { "\(block(i)).layer.0.layer_norm.weight" }
    /// `q`, `k`, `v` or `o`.
    func attention(_ i: Int, _ projection: String) -> String { "\(block(i)).layer.0.SelfAttention.\(projection).weight" }
    func relativeAttentionBias(_ i: Int) -> String { "\(block(i)).layer.0.SelfAttention.relative_attention_bias.weight" }
    func feedForwardNorm(_ i: Int) -> String { "\(block(i)).layer.1.layer_norm.weight" }
    /// `wi_0`, `wi_1`, `wi` or `wo`.
    func feedForward(_ i: Int, _ projection: String) -> String { "\(block(i)).layer.1.DenseReluDense.\(projection).weight" }

    /// Every tensor the encoder reads except the embedding (whose name depends on the file),
    /// with its shape.
    public func expectedShapes() -> [String: [Int]] {
        let d = config.dModel, inner = config.innerDim, ff = config.dFF
        var shapes: [String: [Int]] = [UMT5WeightNames.finalNorm: [d]]
        for i in 0..<config.numLayers {
            shapes[attentionNorm(i)] = [d]
            for projection in ["q", "k", "v"] { shapes[attention(i, projection)] = [inner, d] }
            shapes[attention(i, "o")] = [d, inner]
            shapes[relativeAttentionBias(i)] = [config.relativeAttentionNumBuckets, config.numHeads]
            shapes[feedForwardNorm(i)] = [d]
            if config.isGatedAct {
                shapes[feedForward(i, "wi_0")] = [ff, d]
                shapes[feedForward(i, "wi_1")] = [ff, d]
            } else {
                shapes[feedForward(i, "wi")] = [ff, d]
            }
            shapes[feedForward(i, "wo")] = [d, ff]
        }
        return shapes
    }

    /// Names a transformers checkpoint may hold that the encoder does not read: the decoder
    /// half and the language-model head of a full encoder–decoder checkpoint.
    static func isIgnored(_ name: String) -> Bool {
        name.hasPrefix("decoder.") || name == "lm_head.weight"
    }

    /// The transformers name of a tensor named as in the original Wan release (T5Encoder of
    /// wan/modules/t5.py), or the name unchanged when it follows no Wan rule, so that the strict
    /// check reports it as unexpected.
    public static func transformersName(forWan name: String) -> String {
        switch name {
        case wanEmbedding: return sharedEmbedding
        case "norm.weight": return finalNorm
        default: break
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 4, parts[0] == "blocks", let i = Int(parts[1]), String(i) == parts[1] else { return name }
        let block = "encoder.block.\(i)"
        let rest = parts[2...].joined(separator: ".")
        switch rest {
        case "norm1.weight": return "\(block).layer.0.layer_norm.weight"
        case "attn.q.weight", "attn.k.weight", "attn.v.weight", "attn.o.weight":
            return "\(block).layer.0.SelfAttention.\(parts[3]).weight"
        case "pos_embedding.embedding.weight": return "\(block).layer.0.SelfAttention.relative_attention_bias.weight"
        case "norm2.weight": return "\(block).layer.1.layer_norm.weight"
        // Wan's feed-forward computes fc1(x) · GELU(gate(x)): `gate.0` is the activated branch.
        case "ffn.gate.0.weight": return "\(block).layer.1.DenseReluDense.wi_0.weight"
        case "ffn.fc1.weight": return "\(block).layer.1.DenseReluDense.wi_1.weight"
        case "ffn.fc2.weight": return "\(block).layer.1.DenseReluDense.wo.weight"
        default: return name
        }
    }
}
