import Foundation
import XCTest
@testable import Kinema

/// UMT5 encoder against transformers' UMT5EncoderModel (fixtures from
/// tools/reference/make_umt5_fixtures.py).
final class TextEncoderTests: XCTestCase {
    /// Max abs error allowed, relative to the largest output magnitude (float32 on both sides;
    /// only the summation order differs).
    static let relativeTolerance: Float = 2e-5

    static func directory(_ name: String) -> URL { fixtureURL("umt5/\(name)/text_encoder") }

    static func expected(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(url: fixtureURL("umt5/\(name)/expected.safetensors"))
    }

    static func ids(_ tensor: Tensor) -> [Int32] { tensor.data.map { Int32($0) } }

    func assertMatchesReference(_ encoder: UMT5Encoder, fixture name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try Self.expected(name)
        var cases = 0
        while expected.contains("case\(cases).ids") {
            let ids = Self.ids(try expected.tensor("case\(cases).ids"))
            let reference = try expected.tensor("case\(cases).hidden")
            let output = try encoder.encode(ids: ids)
            let tolerance = Self.relativeTolerance * reference.maxAbs
            assertClose(output, reference, tolerance: tolerance, "\(name) case \(cases) (\(ids.count) tokens)", file: file, line: line)
            // The padded, masked reference run gives the same rows for the real tokens.
            let padded = try expected.tensor("case\(cases).padded_hidden")
            let rows = Tensor(unchecked: [ids.count, encoder.config.dModel], data: Array(padded.data.prefix(ids.count * encoder.config.dModel)))
            assertClose(output, rows, tolerance: tolerance, "\(name) case \(cases) vs padded run", file: file, line: line)
            cases += 1
        }
        XCTAssertGreaterThanOrEqual(cases, 3, "fixture \(name) has too few cases", file: file, line: line)
    }

    // MARK: - Reference outputs

    func testFloat32CheckpointMatchesTransformers() throws {
        let encoder = try UMT5Encoder(directory: Self.directory("tiny_f32"))
        XCTAssertEqual(encoder.config.relativeAttentionMaxDistance, 128)
        try assertMatchesReference(encoder, fixture: "tiny_f32")
    }

    func testShardedBFloat16CheckpointMatchesTransformers() throws {
        let weights = try UMT5Weights.load(directory: Self.directory("tiny_bf16"))
        XCTAssertEqual(weights.embedding.dtype, .bf16, "the embedding stays in its stored precision")
        XCTAssertEqual(weights.layers.first?.qkv.element, .bf16, "linear weights stay 16-bit")
        try assertMatchesReference(UMT5Encoder(weights: weights), fixture: "tiny_bf16")
    }

    func testLoadsFromAPipelineFolder() throws {
        let model = try ModelDirectory(url: fixtureURL("tiny-pipeline"))
        let encoder = try UMT5Encoder(model: model)
        XCTAssertEqual(encoder.config, model.textEncoderConfig)
        let context = try encoder.encodeForDiT(ids: [7, 3, 1], textLength: 8)
        XCTAssertEqual(context.shape, [8, model.textEncoderConfig.dModel])
        XCTAssertTrue(context.data.prefix(3 * model.textEncoderConfig.dModel).allSatisfy(\.isFinite))
    }

    func testRelativePositionBucketsMatchTransformers() throws {
        let file = try SafeTensorsFile(url: fixtureURL("umt5/buckets.safetensors"))
        let positions = try file.tensor("relative_position").data.map { Int($0) }
        var configurations = 0
        for name in file.names where name.hasPrefix("bucket.") {
            let parts = name.split(separator: ".")
            guard parts.count == 3, let buckets = Int(parts[1]), let distance = Int(parts[2]) else {
                XCTFail("unexpected fixture name \(name)"); continue
            }
            let expected = try file.tensor(name).data.map { Int($0) }
            for (rel, bucket) in zip(positions, expected) {
                XCTAssertEqual(UMT5RelativePosition.bucket(rel, numBuckets: buckets, maxDistance: distance), bucket,
                               "relative position \(rel), \(buckets) buckets, max distance \(distance)")
            }
            configurations += 1
        }
        XCTAssertEqual(configurations, 8)
        // The table of the architecture reference for UMT5-XXL (32 buckets, max distance 128).
        let table: [(Int, Int)] = [(7, 7), (8, 8), (11, 8), (12, 9), (15, 9), (16, 10), (22, 10), (23, 11), (31, 11),
                                   (32, 12), (45, 12), (46, 13), (63, 13), (64, 14), (90, 14), (91, 15), (500, 15)]
        for (distance, bucket) in table {
            XCTAssertEqual(UMT5RelativePosition.bucket(-distance, numBuckets: 32, maxDistance: 128), bucket)
            XCTAssertEqual(UMT5RelativePosition.bucket(distance, numBuckets: 32, maxDistance: 128), 16 + bucket)
        }
    }

    // MARK: - Checkpoint layouts

    /// The same weights under the original Wan names, written to a file, give identical outputs.
    func testOriginalWanNamesGiveIdenticalOutputs() throws {
        let directory = Self.directory("tiny_f32")
        let config = try UMT5Config.load(contentsOf: directory.appendingPathComponent("config.json"))
        let source = try SafeTensorsCollection(directory: directory, prefix: "model")
        let wanNames: [String: String] = Dictionary(uniqueKeysWithValues: wanRenaming(layers: config.numLayers).map { ($1, $0) })
        var tensors: [(name: String, tensor: Tensor)] = []
        for name in source.names {
            let wan = try XCTUnwrap(wanNames[name], "no Wan name for \(name)")
            tensors.append((wan, try source.tensor(name)))
        }
        let url = try makeTemporaryDirectory(self).appendingPathComponent("umt5-enc.safetensors")
        try SafeTensorsWriter.write(tensors, to: url)

        let wan = UMT5Encoder(weights: try UMT5Weights(config: config, source: SafeTensorsCollection(file: url)))
        let reference = try UMT5Encoder(directory: directory)
        let expected = try Self.expected("tiny_f32")
        for i in 0..<3 {
            let ids = Self.ids(try expected.tensor("case\(i).ids"))
            XCTAssertEqual(try wan.encode(ids: ids), try reference.encode(ids: ids), "case \(i)")
        }
    }

    /// Wan name → transformers name for every tensor of the encoder (reference C.3).
    func wanRenaming(layers: Int) -> [String: String] {
        var names = [
            "token_embedding.weight": "shared.weight",
            "norm.weight": "encoder.final_layer_norm.weight",
        ]
        for i in 0..<layers {
            let block = "encoder.block.\(i)"
            names["blocks.\(i).norm1.weight"] = "\(block).layer.0.layer_norm.weight"
            for p in ["q", "k", "v", "o"] { names["blocks.\(i).attn.\(p).weight"] = "\(block).layer.0.SelfAttention.\(p).weight" }
            names["blocks.\(i).pos_embedding.embedding.weight"] = "\(block).layer.0.SelfAttention.relative_attention_bias.weight"
            names["blocks.\(i).norm2.weight"] = "\(block).layer.1.layer_norm.weight"
            names["blocks.\(i).ffn.gate.0.weight"] = "\(block).layer.1.DenseReluDense.wi_0.weight"
            names["blocks.\(i).ffn.fc1.weight"] = "\(block).layer.1.DenseReluDense.wi_1.weight"
            names["blocks.\(i).ffn.fc2.weight"] = "\(block).layer.1.DenseReluDense.wo.weight"
        }
        for (wan, transformers) in names {
            XCTAssertEqual(UMT5WeightNames.transformersName(forWan: wan), transformers)
        }
        return names
    }

    /// Tensors of the float32 fixture, for building altered checkpoints.
    func fixtureTensors() throws -> (UMT5Config, [String: Tensor]) {
        let directory = Self.directory("tiny_f32")
        let config = try UMT5Config.load(contentsOf: directory.appendingPathComponent("config.json"))
        let source = try SafeTensorsCollection(directory: directory, prefix: "model")
        var tensors: [String: Tensor] = [:]
        for name in source.names { tensors[name] = try source.tensor(name) }
        return (config, tensors)
    }

    func load(_ config: UMT5Config, _ tensors: [String: Tensor]) throws -> UMT5Weights {
        let url = try makeTemporaryDirectory(self).appendingPathComponent("model.safetensors")
        try SafeTensorsWriter.write(tensors.map { (name: $0.key, tensor: $0.value) }, to: url)
        return try UMT5Weights(config: config, source: SafeTensorsCollection(file: url))
    }

    func testStrictLoadingListsMissingUnexpectedAndMisshapenTensors() throws {
        var (config, tensors) = try fixtureTensors()
        tensors["encoder.block.1.layer.0.SelfAttention.k.weight"] = nil
        tensors["encoder.block.0.layer.1.DenseReluDense.extra.weight"] = Tensor(zeros: [2])
        tensors["encoder.block.0.layer.1.layer_norm.weight"] = Tensor(zeros: [config.dModel + 1])
        XCTAssertThrowsError(try load(config, tensors)) { error in
            let message = (error as? KinemaError)?.message ?? "\(error)"
            XCTAssertTrue(message.contains("missing 1: encoder.block.1.layer.0.SelfAttention.k.weight"), message)
            XCTAssertTrue(message.contains("unexpected 1: encoder.block.0.layer.1.DenseReluDense.extra.weight"), message)
            XCTAssertTrue(message.contains("wrong shape 1: encoder.block.0.layer.1.layer_norm.weight"), message)
        }
        // A configuration with more layers than the file holds names the absent layer.
        (config, tensors) = try fixtureTensors()
        config.numLayers = 3
        XCTAssertThrowsError(try load(config, tensors)) { error in
            XCTAssertTrue("\(error)".contains("encoder.block.2.layer.0.SelfAttention.q.weight"), "\(error)")
        }
        // No embedding at all.
        (config, tensors) = try fixtureTensors()
        tensors["shared.weight"] = nil
        XCTAssertThrowsError(try load(config, tensors)) { error in
            XCTAssertTrue("\(error)".contains("missing 1: shared.weight"), "\(error)")
        }
    }

    func testTiedEmbeddingNamesAndDecoderTensors() throws {
        var (config, tensors) = try fixtureTensors()
        let reference = UMT5Encoder(weights: try load(config, tensors))
        let ids: [Int32] = [5, 17, 299, 1]
        let expected = try reference.encode(ids: ids)

        // Only encoder.embed_tokens.weight.
        tensors["encoder.embed_tokens.weight"] = tensors["shared.weight"]
        tensors["shared.weight"] = nil
        XCTAssertEqual(try UMT5Encoder(weights: load(config, tensors)).encode(ids: ids), expected)

        // Both names: the encoder reads encoder.embed_tokens.weight, as transformers does.
        tensors["shared.weight"] = Tensor(zeros: [config.vocabSize, config.dModel])
        XCTAssertEqual(try UMT5Encoder(weights: load(config, tensors)).encode(ids: ids), expected)
        tensors["shared.weight"] = Tensor(zeros: [config.vocabSize, config.dModel + 1])
        XCTAssertThrowsError(try load(config, tensors)) { error in
            XCTAssertTrue("\(error)".contains("wrong shape 1: shared.weight"), "\(error)")
        }

        // The decoder half of a full encoder-decoder checkpoint is not read.
        (config, tensors) = try fixtureTensors()
        tensors["decoder.block.0.layer.0.SelfAttention.q.weight"] = Tensor(zeros: [3, 3])
        tensors["lm_head.weight"] = Tensor(zeros: [4, 2])
        XCTAssertEqual(try UMT5Encoder(weights: load(config, tensors)).encode(ids: ids), expected)
    }

    func testAssembledWeightsAreChecked() throws {
        let loaded = try UMT5Weights.load(directory: Self.directory("tiny_bf16"))
        let reassembled = try UMT5Weights(config: loaded.config, embedding: loaded.embedding, layers: loaded.layers, finalNorm: loaded.finalNorm)
        XCTAssertEqual(try UMT5Encoder(weights: reassembled).encode(ids: [9, 8, 1]), try UMT5Encoder(weights: loaded).encode(ids: [9, 8, 1]))

        let layer = try XCTUnwrap(loaded.layers.first)
        let swapped = UMT5LayerWeights(
            attentionNorm: layer.attentionNorm, qkv: layer.feedForwardInput, attentionOutput: layer.attentionOutput,
            relativeAttentionBias: layer.relativeAttentionBias, feedForwardNorm: layer.feedForwardNorm,
            feedForwardInput: layer.qkv, feedForwardOutput: layer.feedForwardOutput)
        XCTAssertThrowsError(try UMT5Weights(config: loaded.config, embedding: loaded.embedding,
                                             layers: [swapped] + loaded.layers.dropFirst(), finalNorm: loaded.finalNorm)) { error in
            XCTAssertTrue("\(error)".contains("layer 0 q/k/v projection is [160, 48], expected [144, 48]"), "\(error)")
        }
        XCTAssertThrowsError(try UMT5Weights(config: loaded.config, embedding: loaded.embedding,
                                             layers: Array(loaded.layers.dropLast()), finalNorm: loaded.finalNorm)) { error in
            XCTAssertTrue("\(error)".contains("2 layers, the configuration has 3"), "\(error)")
        }
    }

    // MARK: - Inputs and outputs

    func testOutOfRangeAndMissingIdsAreErrors() throws {
        let encoder = try UMT5Encoder(directory: Self.directory("tiny_f32"))
        for (ids, bad) in [([Int32(3), 300, 1], "300"), ([Int32(-1), 1], "-1")] {
            XCTAssertThrowsError(try encoder.encode(ids: ids)) { error in
                XCTAssertEqual((error as? KinemaError)?.code, .invalidArgument)
                XCTAssertTrue("\(error)".contains("token id \(bad) at position"), "\(error)")
            }
        }
        XCTAssertThrowsError(try encoder.encode(ids: [])) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .invalidArgument)
        }
        XCTAssertThrowsError(try encoder.encode(ids: [Int32](repeating: 5, count: UMT5Encoder.maxTokens + 1))) { error in
            XCTAssertTrue("\(error)".contains("exceed the limit"), "\(error)")
        }
        XCTAssertNoThrow(try encoder.encode(ids: [299, 0, 1]))
    }

    func testContextForTheDiTIsZeroPadded() throws {
        let encoder = try UMT5Encoder(directory: Self.directory("tiny_f32"))
        let d = encoder.config.dModel
        let ids: [Int32] = [12, 40, 7, 299, 1]
        let rows = try encoder.encode(ids: ids)
        let context = try encoder.encodeForDiT(ids: ids, textLength: 16)
        XCTAssertEqual(context.shape, [16, d])
        XCTAssertEqual(Array(context.data.prefix(ids.count * d)), rows.data)
        XCTAssertTrue(context.data[(ids.count * d)...].allSatisfy { $0 == 0 && $0.sign == .plus }, "padding rows must be exactly +0")
        XCTAssertEqual(try encoder.encodeForDiT(ids: ids).shape, [512, d])

        // Longer than textLength: only the first textLength ids are encoded.
        let truncated = try encoder.encodeForDiT(ids: ids, textLength: 3)
        XCTAssertEqual(truncated, try encoder.encode(ids: Array(ids.prefix(3))))
        XCTAssertThrowsError(try encoder.encodeForDiT(ids: ids, textLength: 0))
    }

    func testCancellationStopsEncoding() throws {
        let encoder = try UMT5Encoder(directory: Self.directory("tiny_f32"))
        let token = CancellationToken()
        token.cancel()
        XCTAssertThrowsError(try encoder.encode(ids: [4, 5, 1], cancel: token)) { error in
            XCTAssertEqual(error as? KinemaError, .cancelled)
        }
    }

    func testConcurrentEncodingGivesTheSameResults() throws {
        let encoder = try UMT5Encoder(directory: Self.directory("tiny_bf16"))
        var prompts: [[Int32]] = []
        for p in 0..<8 {
            var ids: [Int32] = []
            for i in 0..<(5 + 9 * p) { ids.append(Int32((i * 37 + p * 11) % 298 + 2)) }
            prompts.append(ids + [1])
        }
        let serial = try prompts.map { try encoder.encode(ids: $0) }
        let results = TextEncoderResults(count: prompts.count)
        DispatchQueue.concurrentPerform(iterations: prompts.count) { i in
            results.set(i, Result { try encoder.encode(ids: prompts[i]) })
        }
        for i in 0..<prompts.count {
            XCTAssertEqual(try results.get(i).get(), serial[i], "prompt \(i)")
        }
    }
}

/// Results written from several threads.
private final class TextEncoderResults: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Result<Tensor, Error>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: Result<Tensor, Error>) { lock.lock(); values[i] = value; lock.unlock() }
    func get(_ i: Int) -> Result<Tensor, Error> {
        lock.lock(); defer { lock.unlock() }
        return values[i] ?? .failure(KinemaError.invalidArgument("no result for \(i)"))
    }
}
