import Foundation
import XCTest
@testable import Kinema

final class ConfigurationTests: XCTestCase {
    private var tinyPipeline: URL { fixtureURL("tiny-pipeline") }

    // MARK: - The tiny pipeline written by make_tiny_pipeline.py

    func testParsesTinyPipeline() throws {
        let model = try ModelDirectory(url: tinyPipeline)
        XCTAssertEqual(model.pipelineClassName, "WanPipeline")
        XCTAssertEqual(Set(model.components.keys), ["transformer", "vae", "text_encoder", "tokenizer", "scheduler"])
        XCTAssertEqual(model.components["text_encoder"], .init(library: "transformers", className: "UMT5EncoderModel"))
        XCTAssertNil(model.boundaryRatio)
        XCTAssertFalse(model.expandTimesteps)
        XCTAssertEqual(model.tokenizerURL, tinyPipeline.appendingPathComponent("tokenizer/tokenizer.json"))
        XCTAssertEqual(model.directory(for: .textEncoder).lastPathComponent, "text_encoder")

        // The values make_tiny_pipeline.py sets (TRANSFORMER, VAE, TEXT_ENCODER, SCHEDULER).
        var transformer = WanTransformerConfig()
        transformer.patchSize = [1, 2, 2]
        transformer.numAttentionHeads = 2
        transformer.attentionHeadDim = 12
        transformer.inChannels = 4
        transformer.outChannels = 4
        transformer.textDim = 16
        transformer.freqDim = 16
        transformer.ffnDim = 32
        transformer.numLayers = 2
        transformer.ropeMaxSeqLen = 32
        XCTAssertEqual(model.transformerConfig, transformer)
        XCTAssertEqual(model.transformerConfig.dim, 24)
        XCTAssertEqual(model.transformerConfig.qkNorm, "rms_norm_across_heads")
        XCTAssertEqual(model.transformerConfig.eps, 1e-6)
        XCTAssertNil(model.transformerConfig.imageDim)

        let vae = model.vaeConfig
        XCTAssertEqual(vae.baseDim, 4)
        XCTAssertNil(vae.decoderBaseDim)
        XCTAssertEqual(vae.decoderDim, 4)
        XCTAssertEqual(vae.zDim, 4)
        XCTAssertEqual(vae.dimMult, [1, 2, 2])
        XCTAssertEqual(vae.numResBlocks, 1)
        XCTAssertEqual(vae.attnScales, [])
        XCTAssertEqual(vae.temporalDownsample, [false, true])
        XCTAssertEqual(vae.dropout, 0)
        XCTAssertEqual(vae.latentsMean, [0.1, -0.2, 0.3, -0.4])
        XCTAssertEqual(vae.latentsStd, [1.5, 0.5, 2.0, 1.0])
        XCTAssertEqual(vae.scaleFactorTemporal, 2)
        XCTAssertEqual(vae.scaleFactorSpatial, 4)
        XCTAssertEqual(vae.temporalCompression, 2)
        XCTAssertEqual(vae.spatialCompression, 4)
        XCTAssertFalse(vae.isResidual)
        XCTAssertNil(vae.patchSize)

        let text = model.textEncoderConfig
        XCTAssertEqual(text.vocabSize, 60)
        XCTAssertEqual(text.dModel, 16)
        XCTAssertEqual(text.dKV, 8)
        XCTAssertEqual(text.dFF, 32)
        XCTAssertEqual(text.numLayers, 2)
        XCTAssertEqual(text.numHeads, 2)
        XCTAssertEqual(text.innerDim, 16)
        XCTAssertEqual(text.relativeAttentionNumBuckets, 8)
        XCTAssertEqual(text.relativeAttentionMaxDistance, 16)
        XCTAssertEqual(text.layerNormEpsilon, 1e-6)
        XCTAssertEqual(text.feedForwardProj, "gated-gelu")
        XCTAssertEqual(text.denseActFn, "gelu_new")
        XCTAssertTrue(text.isGatedAct)
        XCTAssertEqual(text.padTokenId, 0)
        XCTAssertEqual(text.eosTokenId, 1)

        let scheduler = model.schedulerConfig
        XCTAssertEqual(scheduler.kind, .uniPCMultistep)
        XCTAssertEqual(scheduler.numTrainTimesteps, 1000)
        XCTAssertEqual(scheduler.solverOrder, 2)
        XCTAssertEqual(scheduler.solverType, "bh2")
        XCTAssertEqual(scheduler.predictionType, "flow_prediction")
        XCTAssertTrue(scheduler.useFlowSigmas)
        XCTAssertEqual(scheduler.flowShift, 3.0)
        XCTAssertEqual(scheduler.flowMatchingShift, 3.0)
        XCTAssertTrue(scheduler.predictX0)
        XCTAssertTrue(scheduler.lowerOrderFinal)
        XCTAssertEqual(scheduler.disableCorrector, [])
        XCTAssertEqual(scheduler.finalSigmasType, "zero")
        XCTAssertFalse(scheduler.useDynamicShifting)
        XCTAssertFalse(scheduler.thresholding)
    }

    /// Every tensor name and shape the diffusers WanTransformer3DModel defines for `config`.
    private func transformerTensors(_ config: WanTransformerConfig) -> [String: [Int]] {
        let d = config.dim, f = config.ffnDim
        let patch = config.patchSize.reduce(1, *)
        var expected: [String: [Int]] = [
            "patch_embedding.weight": [d, config.inChannels] + config.patchSize,
            "patch_embedding.bias": [d],
            "condition_embedder.text_embedder.linear_1.weight": [d, config.textDim],
            "condition_embedder.text_embedder.linear_1.bias": [d],
            "condition_embedder.text_embedder.linear_2.weight": [d, d],
            "condition_embedder.text_embedder.linear_2.bias": [d],
            "condition_embedder.time_embedder.linear_1.weight": [d, config.freqDim],
            "condition_embedder.time_embedder.linear_1.bias": [d],
            "condition_embedder.time_embedder.linear_2.weight": [d, d],
            "condition_embedder.time_embedder.linear_2.bias": [d],
            "condition_embedder.time_proj.weight": [6 * d, d],
            "condition_embedder.time_proj.bias": [6 * d],
            "proj_out.weight": [config.outChannels * patch, d],
            "proj_out.bias": [config.outChannels * patch],
            "scale_shift_table": [1, 2, d],
        ]
        for n in 0..<config.numLayers {
            let block = "blocks.\(n)."
            for attention in ["attn1", "attn2"] {
                for projection in ["to_q", "to_k", "to_v", "to_out.0"] {
                    expected[block + "\(attention).\(projection).weight"] = [d, d]
                    expected[block + "\(attention).\(projection).bias"] = [d]
                }
                expected[block + "\(attention).norm_q.weight"] = [d]
                expected[block + "\(attention).norm_k.weight"] = [d]
            }
            expected[block + "norm2.weight"] = [d]
            expected[block + "norm2.bias"] = [d]
            expected[block + "ffn.net.0.proj.weight"] = [f, d]
            expected[block + "ffn.net.0.proj.bias"] = [f]
            expected[block + "ffn.net.2.weight"] = [d, f]
            expected[block + "ffn.net.2.bias"] = [d]
            expected[block + "scale_shift_table"] = [1, 6, d]
        }
        return expected
    }

    /// Every tensor name and shape transformers' UMT5EncoderModel saves for `config`.
    private func textEncoderTensors(_ config: UMT5Config) -> [String: [Int]] {
        let d = config.dModel, inner = config.innerDim, ff = config.dFF
        var expected: [String: [Int]] = [
            "shared.weight": [config.vocabSize, d],
            "encoder.final_layer_norm.weight": [d],
        ]
        for n in 0..<config.numLayers {
            let layer = "encoder.block.\(n).layer."
            for projection in ["q", "k", "v"] { expected[layer + "0.SelfAttention.\(projection).weight"] = [inner, d] }
            expected[layer + "0.SelfAttention.o.weight"] = [d, inner]
            expected[layer + "0.SelfAttention.relative_attention_bias.weight"] = [config.relativeAttentionNumBuckets, config.numHeads]
            expected[layer + "0.layer_norm.weight"] = [d]
            expected[layer + "1.DenseReluDense.wi_0.weight"] = [ff, d]
            expected[layer + "1.DenseReluDense.wi_1.weight"] = [ff, d]
            expected[layer + "1.DenseReluDense.wo.weight"] = [d, ff]
            expected[layer + "1.layer_norm.weight"] = [d]
        }
        return expected
    }

    func testWeightsOpenWithExpectedNamesAndShapes() throws {
        let model = try ModelDirectory(url: tinyPipeline)

        let transformer = try model.weights(for: .transformer)
        XCTAssertEqual(transformer.url.lastPathComponent, "diffusion_pytorch_model.safetensors")
        try transformer.checkTensors(transformerTensors(model.transformerConfig))
        XCTAssertEqual(transformer.info("proj_out.weight")?.dtype, .f32)
        XCTAssertTrue(try transformer.tensor("blocks.1.scale_shift_table").data.allSatisfy(\.isFinite))

        // The text encoder is sharded and stored in bfloat16.
        let text = try model.weights(for: .textEncoder)
        XCTAssertEqual(text.url.lastPathComponent, "model.safetensors.index.json")
        XCTAssertEqual((text as? SafeTensorsCollection)?.files.count, 2)
        try text.checkTensors(textEncoderTensors(model.textEncoderConfig))
        for name in text.names { XCTAssertEqual(text.info(name)?.dtype, .bf16, name) }
        let embedding = try text.weight("shared.weight", shape: [60, 16])
        XCTAssertEqual(embedding.dtype, .bf16)
        XCTAssertEqual(embedding.toTensor(), try text.tensor("shared.weight"))

        let vae = try model.weights(for: .vae)
        XCTAssertEqual(vae.names.count, 118)
        XCTAssertEqual(vae.info("decoder.conv_in.weight")?.shape, [8, 4, 3, 3, 3])
        XCTAssertEqual(vae.info("decoder.conv_out.weight")?.shape, [3, 4, 3, 3, 3])

        assertKinemaError(.invalidArgument, containing: ["tokenizer"]) { _ = try model.weights(for: .tokenizer) }
        assertKinemaError(.invalidArgument, containing: ["scheduler"]) { _ = try model.weights(for: .scheduler) }
    }

    // MARK: - Broken copies of the tiny pipeline

    /// A copy of the tiny pipeline that a test may damage.
    private func pipelineCopy() throws -> URL {
        let dir = try makeTemporaryDirectory(self).appendingPathComponent("tiny-pipeline")
        try FileManager.default.copyItem(at: tinyPipeline, to: dir)
        return dir
    }

    /// Rewrites one JSON file of `dir` through a dictionary edit.
    private func editJSON(_ dir: URL, _ path: String, _ edit: (inout [String: Any]) -> Void) throws {
        let url = dir.appendingPathComponent(path)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: url)
    }

    func testMissingDirectoryAndModelIndex() throws {
        let dir = try pipelineCopy()
        let absent = dir.appendingPathComponent("no-such-model")
        assertKinemaError(.missingComponent, containing: [absent.path]) { _ = try ModelDirectory(url: absent) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("model_index.json"))
        assertKinemaError(.missingComponent, containing: [dir.appendingPathComponent("model_index.json").path]) {
            _ = try ModelDirectory(url: dir)
        }
    }

    func testMissingComponentFolder() throws {
        let dir = try pipelineCopy()
        try FileManager.default.removeItem(at: dir.appendingPathComponent("vae"))
        assertKinemaError(.missingComponent, containing: [dir.appendingPathComponent("vae").path, "'vae'"]) {
            _ = try ModelDirectory(url: dir)
        }
    }

    func testMissingConfigAndTokenizerFiles() throws {
        let dir = try pipelineCopy()
        try FileManager.default.removeItem(at: dir.appendingPathComponent("text_encoder/config.json"))
        assertKinemaError(.missingComponent, containing: ["text_encoder/config.json"]) { _ = try ModelDirectory(url: dir) }

        let other = try pipelineCopy()
        try FileManager.default.removeItem(at: other.appendingPathComponent("tokenizer/tokenizer.json"))
        assertKinemaError(.missingComponent, containing: ["tokenizer/tokenizer.json"]) { _ = try ModelDirectory(url: other) }
    }

    func testNegativeNumLayers() throws {
        let dir = try pipelineCopy()
        try editJSON(dir, "transformer/config.json") { $0["num_layers"] = -1 }
        assertKinemaError(.invalidArgument, containing: ["transformer/config.json", "num_layers", "-1"]) {
            _ = try ModelDirectory(url: dir)
        }
    }

    func testMalformedAndMistypedConfigs() throws {
        let dir = try pipelineCopy()
        try Data("{\"d_model\": 16,".utf8).write(to: dir.appendingPathComponent("text_encoder/config.json"))
        assertKinemaError(.corruptFile, containing: ["text_encoder/config.json", "not valid JSON"]) { _ = try ModelDirectory(url: dir) }

        let mistyped = try pipelineCopy()
        try editJSON(mistyped, "vae/config.json") { $0["dim_mult"] = [1, "two", 2] }
        assertKinemaError(.corruptFile, containing: ["vae/config.json", "dim_mult[1]"]) { _ = try ModelDirectory(url: mistyped) }

        let index = try pipelineCopy()
        try Data("[\"WanPipeline\"]".utf8).write(to: index.appendingPathComponent("model_index.json"))
        assertKinemaError(.corruptFile, containing: ["model_index.json", "expected a JSON object"]) { _ = try ModelDirectory(url: index) }

        let noClass = try pipelineCopy()
        try editJSON(noClass, "model_index.json") { $0["_class_name"] = nil }
        assertKinemaError(.corruptFile, containing: ["model_index.json", "_class_name"]) { _ = try ModelDirectory(url: noClass) }

        let badEntry = try pipelineCopy()
        try editJSON(badEntry, "model_index.json") { $0["vae"] = ["diffusers"] }
        assertKinemaError(.corruptFile, containing: ["model_index.json", "'vae'"]) { _ = try ModelDirectory(url: badEntry) }
    }

    func testInconsistentValues() throws {
        let vae = try pipelineCopy()
        try editJSON(vae, "vae/config.json") { $0["latents_std"] = [1.0, 2.0] }
        assertKinemaError(.invalidArgument, containing: ["vae/config.json", "latents_std", "z_dim"]) { _ = try ModelDirectory(url: vae) }

        let scale = try pipelineCopy()
        try editJSON(scale, "vae/config.json") { $0["scale_factor_spatial"] = 8 }
        assertKinemaError(.invalidArgument, containing: ["vae/config.json", "scale_factor_spatial"]) { _ = try ModelDirectory(url: scale) }

        let widths = try pipelineCopy()
        try editJSON(widths, "transformer/config.json") { $0["text_dim"] = 32 }
        assertKinemaError(.invalidArgument, containing: ["text_dim", "d_model"]) { _ = try ModelDirectory(url: widths) }

        let order = try pipelineCopy()
        try editJSON(order, "scheduler/scheduler_config.json") { $0["solver_order"] = 7 }
        assertKinemaError(.invalidArgument, containing: ["scheduler_config.json", "solver_order", "7"]) { _ = try ModelDirectory(url: order) }

        let vocab = try pipelineCopy()
        try editJSON(vocab, "text_encoder/config.json") { $0["eos_token_id"] = 60 }
        assertKinemaError(.invalidArgument, containing: ["text_encoder/config.json", "eos_token_id"]) { _ = try ModelDirectory(url: vocab) }
    }

    func testUnsupportedClasses() throws {
        let scheduler = try pipelineCopy()
        try editJSON(scheduler, "scheduler/scheduler_config.json") { $0["_class_name"] = "DDIMScheduler" }
        assertKinemaError(.unsupported, containing: ["scheduler_config.json", "DDIMScheduler"]) { _ = try ModelDirectory(url: scheduler) }

        let component = try pipelineCopy()
        try editJSON(component, "model_index.json") { $0["transformer"] = ["diffusers", "WanVACETransformer3DModel"] }
        assertKinemaError(.unsupported, containing: ["model_index.json", "WanVACETransformer3DModel"]) { _ = try ModelDirectory(url: component) }

        let pipeline = try pipelineCopy()
        try editJSON(pipeline, "model_index.json") { $0["_class_name"] = "WanImageToVideoPipeline" }
        assertKinemaError(.unsupported, containing: ["model_index.json", "WanImageToVideoPipeline"]) { _ = try ModelDirectory(url: pipeline) }

        let twoExperts = try pipelineCopy()
        try editJSON(twoExperts, "model_index.json") { $0["transformer_2"] = ["diffusers", "WanTransformer3DModel"] }
        assertKinemaError(.unsupported, containing: ["transformer_2"]) { _ = try ModelDirectory(url: twoExperts) }

        let disagree = try pipelineCopy()
        try editJSON(disagree, "model_index.json") { $0["scheduler"] = ["diffusers", "FlowMatchEulerDiscreteScheduler"] }
        assertKinemaError(.corruptFile, containing: ["scheduler_config.json", "model_index.json"]) { _ = try ModelDirectory(url: disagree) }

        let unlisted = try pipelineCopy()
        try editJSON(unlisted, "model_index.json") { $0["tokenizer"] = NSNull() }
        assertKinemaError(.missingComponent, containing: ["model_index.json", "'tokenizer'"]) { _ = try ModelDirectory(url: unlisted) }
    }

    func testMissingWeightsAreReportedWhenOpened() throws {
        let dir = try pipelineCopy()
        try FileManager.default.removeItem(at: dir.appendingPathComponent("transformer/diffusion_pytorch_model.safetensors"))
        let model = try ModelDirectory(url: dir)
        assertKinemaError(.missingComponent, containing: ["diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json"]) {
            _ = try model.weights(for: .transformer)
        }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("text_encoder/model-00002-of-00002.safetensors"))
        assertKinemaError(.missingComponent, containing: ["model.safetensors.index.json", "model-00002-of-00002.safetensors"]) {
            _ = try model.weights(for: .textEncoder)
        }
    }

    // MARK: - Configurations on their own

    private func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(json.utf8))
    }

    /// The published Wan2.1-T2V-1.3B transformer configuration in both layouts gives one config.
    func testOriginalWanConfigMapsToDiffusers() throws {
        let dir = try makeTemporaryDirectory(self)
        let original = dir.appendingPathComponent("original.json")
        try Data(#"{"dim": 1536, "eps": 1e-06, "ffn_dim": 8960, "freq_dim": 256, "in_dim": 16, "model_type": "t2v", "num_heads": 12, "num_layers": 30, "out_dim": 16, "text_len": 512}"#.utf8).write(to: original)
        let diffusers = dir.appendingPathComponent("diffusers.json")
        try Data(#"{"_class_name": "WanTransformer3DModel", "_diffusers_version": "0.33.0.dev0", "added_kv_proj_dim": null, "attention_head_dim": 128, "cross_attn_norm": true, "eps": 1e-06, "ffn_dim": 8960, "freq_dim": 256, "image_dim": null, "in_channels": 16, "num_attention_heads": 12, "num_layers": 30, "out_channels": 16, "patch_size": [1, 2, 2], "qk_norm": "rms_norm_across_heads", "rope_max_seq_len": 1024, "text_dim": 4096}"#.utf8).write(to: diffusers)
        let fromOriginal = try WanTransformerConfig.load(contentsOf: original)
        XCTAssertEqual(fromOriginal, try WanTransformerConfig.load(contentsOf: diffusers))
        XCTAssertEqual(fromOriginal.dim, 1536)
        XCTAssertEqual(fromOriginal.attentionHeadDim, 128)
        XCTAssertEqual(fromOriginal.textDim, 4096)
        XCTAssertEqual(fromOriginal.patchSize, [1, 2, 2])
        XCTAssertTrue(fromOriginal.crossAttnNorm)

        // The constructor defaults of WanModel.__init__.
        let defaults = try decode(WanOriginalConfig.self, "{}")
        XCTAssertEqual(defaults, WanOriginalConfig())
        XCTAssertEqual([defaults.dim, defaults.ffnDim, defaults.numHeads, defaults.numLayers, defaults.textLen], [2048, 8192, 16, 32, 512])
        XCTAssertEqual(defaults.modelType, "t2v")
        XCTAssertEqual(defaults.windowSize, [-1, -1])

        var i2v = WanOriginalConfig()
        i2v.modelType = "i2v"
        i2v.dim = 5120
        i2v.numHeads = 40
        i2v.inDim = 36
        let mapped = try WanTransformerConfig(original: i2v)
        XCTAssertEqual(mapped.imageDim, 1280)
        XCTAssertEqual(mapped.addedKVProjDim, 5120)
        XCTAssertNil(mapped.posEmbedSeqLen)
        i2v.modelType = "flf2v"
        XCTAssertEqual(try WanTransformerConfig(original: i2v).posEmbedSeqLen, 514)

        var bad = WanOriginalConfig()
        bad.dim = 1000
        bad.numHeads = 12
        assertKinemaError(.invalidArgument, containing: ["dim", "num_heads"]) { _ = try WanTransformerConfig(original: bad) }
        bad = WanOriginalConfig()
        bad.modelType = "vace"
        assertKinemaError(.unsupported, containing: ["model_type", "vace"]) { _ = try WanTransformerConfig(original: bad) }
        bad = WanOriginalConfig()
        bad.windowSize = [8, 8]
        assertKinemaError(.unsupported, containing: ["window_size"]) { _ = try WanTransformerConfig(original: bad) }

        let vaceFile = dir.appendingPathComponent("vace.json")
        try Data(#"{"_class_name": "WanVACETransformer3DModel"}"#.utf8).write(to: vaceFile)
        assertKinemaError(.unsupported, containing: ["vace.json", "WanVACETransformer3DModel"]) { _ = try WanTransformerConfig.load(contentsOf: vaceFile) }
    }

    func testTransformerValidation() throws {
        XCTAssertNoThrow(try WanTransformerConfig().validate())
        XCTAssertEqual(try decode(WanTransformerConfig.self, "{}"), WanTransformerConfig())
        XCTAssertNil(try decode(WanTransformerConfig.self, #"{"qk_norm": null}"#).qkNorm)
        let cases: [(String, KinemaError.Code, String)] = [
            (#"{"patch_size": [1, 2]}"#, .invalidArgument, "patch_size"),
            (#"{"attention_head_dim": 127}"#, .invalidArgument, "attention_head_dim"),
            (#"{"num_attention_heads": 4611686018427387904, "attention_head_dim": 4}"#, .invalidArgument, "num_attention_heads"),
            (#"{"freq_dim": 255}"#, .invalidArgument, "freq_dim"),
            (#"{"eps": 0}"#, .invalidArgument, "eps"),
            (#"{"qk_norm": "layer_norm"}"#, .unsupported, "qk_norm"),
            (#"{"image_dim": 0}"#, .invalidArgument, "image_dim"),
        ]
        for (json, code, key) in cases {
            let config = try decode(WanTransformerConfig.self, json)
            assertKinemaError(code, containing: ["WanTransformerConfig", key]) { try config.validate() }
        }
    }

    func testVAEConfigs() throws {
        XCTAssertNoThrow(try WanVAEConfig().validate())
        XCTAssertEqual(WanVAEConfig().temporalCompression, 4)
        XCTAssertEqual(WanVAEConfig().spatialCompression, 8)
        // Wan2.2 (TI2V-5B) as diffusers' converter writes it.
        let wan22 = try decode(WanVAEConfig.self, """
            {"base_dim": 160, "decoder_base_dim": 256, "z_dim": 48, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2,
             "temperal_downsample": [false, true, true], "is_residual": true, "in_channels": 12, "out_channels": 12,
             "patch_size": 2, "scale_factor_temporal": 4, "scale_factor_spatial": 16,
             "latents_mean": \((0..<48).map { _ in 0.0 }), "latents_std": \((0..<48).map { _ in 1.0 })}
            """)
        XCTAssertNoThrow(try wan22.validate())
        XCTAssertEqual(wan22.decoderDim, 256)
        XCTAssertEqual(wan22.spatialCompression, 16)
        // Null scale factors are derived, not checked.
        XCTAssertNil(try decode(WanVAEConfig.self, #"{"scale_factor_spatial": null}"#).scaleFactorSpatial)

        let cases: [(String, String)] = [
            (#"{"temperal_downsample": [true]}"#, "temperal_downsample"),
            (#"{"dim_mult": []}"#, "dim_mult"),
            (#"{"z_dim": 4}"#, "latents_mean"),
            (#"{"dropout": 1.5}"#, "dropout"),
            (#"{"base_dim": -3}"#, "base_dim"),
            (#"{"num_res_blocks": 0}"#, "num_res_blocks"),
            (#"{"scale_factor_temporal": 8}"#, "scale_factor_temporal"),
        ]
        for (json, key) in cases {
            let config = try decode(WanVAEConfig.self, json)
            assertKinemaError(.invalidArgument, containing: ["WanVAEConfig", key]) { try config.validate() }
        }
    }

    func testUMT5Configs() throws {
        // The Wan2.1 text encoder (UMT5-XXL) as published with the Diffusers checkpoints.
        let xxl = try decode(UMT5Config.self, """
            {"d_ff": 10240, "d_kv": 64, "d_model": 4096, "dense_act_fn": "gelu_new", "eos_token_id": 1,
             "feed_forward_proj": "gated-gelu", "is_gated_act": true, "layer_norm_epsilon": 1e-06,
             "num_heads": 64, "num_layers": 24, "pad_token_id": 0, "relative_attention_max_distance": 128,
             "relative_attention_num_buckets": 32, "tie_word_embeddings": false, "vocab_size": 256384}
            """)
        XCTAssertNoThrow(try xxl.validate())
        XCTAssertEqual(xxl.innerDim, 4096)
        XCTAssertFalse(xxl.tieWordEmbeddings)

        // Without dense_act_fn / is_gated_act, both follow feed_forward_proj as in transformers.
        let relu = try decode(UMT5Config.self, #"{"feed_forward_proj": "relu"}"#)
        XCTAssertEqual(relu.denseActFn, "relu")
        XCTAssertFalse(relu.isGatedAct)
        let silu = try decode(UMT5Config.self, #"{"feed_forward_proj": "gated-silu"}"#)
        XCTAssertEqual(silu.denseActFn, "silu")
        XCTAssertTrue(silu.isGatedAct)
        XCTAssertEqual(try decode(UMT5Config.self, "{}"), UMT5Config())

        let cases: [(String, KinemaError.Code, String)] = [
            (#"{"feed_forward_proj": "gated-gelu-extra"}"#, .invalidArgument, "feed_forward_proj"),
            (#"{"feed_forward_proj": "gated-gelu", "is_gated_act": false}"#, .invalidArgument, "is_gated_act"),
            (#"{"feed_forward_proj": "gated-swishy"}"#, .unsupported, "dense_act_fn"),
            (#"{"relative_attention_num_buckets": 2}"#, .invalidArgument, "relative_attention_num_buckets"),
            (#"{"relative_attention_max_distance": 8}"#, .invalidArgument, "relative_attention_max_distance"),
            (#"{"pad_token_id": -1}"#, .invalidArgument, "pad_token_id"),
            (#"{"num_heads": 0}"#, .invalidArgument, "num_heads"),
            (#"{"layer_norm_epsilon": -1}"#, .invalidArgument, "layer_norm_epsilon"),
        ]
        for (json, code, key) in cases {
            let config = try decode(UMT5Config.self, json)
            assertKinemaError(code, containing: ["UMT5Config", key]) { try config.validate() }
        }
    }

    func testSchedulerConfigs() throws {
        let euler = try decode(SchedulerConfig.self, #"{"_class_name": "FlowMatchEulerDiscreteScheduler", "_diffusers_version": "0.33.0", "num_train_timesteps": 1000, "shift": 5.0, "use_dynamic_shifting": false, "base_shift": 0.5, "max_shift": 1.15, "shift_terminal": null, "invert_sigmas": false}"#)
        XCTAssertEqual(euler.kind, .flowMatchEulerDiscrete)
        XCTAssertEqual(euler.flowMatchingShift, 5.0)
        XCTAssertNoThrow(try euler.validate())

        XCTAssertThrowsError(try decode(SchedulerConfig.self, #"{"num_train_timesteps": 1000}"#)) { error in
            XCTAssertTrue("\(error)".contains("_class_name"))
        }
        XCTAssertThrowsError(try decode(SchedulerConfig.self, #"{"_class_name": "EulerDiscreteScheduler"}"#)) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .unsupported)
            XCTAssertTrue("\(error)".contains("EulerDiscreteScheduler"))
        }

        let cases: [(String, String)] = [
            (#"{"_class_name": "UniPCMultistepScheduler", "solver_type": "bh3"}"#, "solver_type"),
            (#"{"_class_name": "UniPCMultistepScheduler", "prediction_type": "noise"}"#, "prediction_type"),
            (#"{"_class_name": "UniPCMultistepScheduler", "flow_shift": -3}"#, "flow_shift"),
            (#"{"_class_name": "UniPCMultistepScheduler", "final_sigmas_type": "one"}"#, "final_sigmas_type"),
            (#"{"_class_name": "UniPCMultistepScheduler", "use_karras_sigmas": true, "use_beta_sigmas": true}"#, "use_karras_sigmas"),
            (#"{"_class_name": "UniPCMultistepScheduler", "num_train_timesteps": 0}"#, "num_train_timesteps"),
            (#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 0}"#, "shift"),
            (#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true, "base_shift": null}"#, "base_shift"),
            (#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift_terminal": 1.5}"#, "shift_terminal"),
        ]
        for (json, key) in cases {
            let config = try decode(SchedulerConfig.self, json)
            assertKinemaError(.invalidArgument, containing: ["SchedulerConfig", key]) { try config.validate() }
        }
    }
}
