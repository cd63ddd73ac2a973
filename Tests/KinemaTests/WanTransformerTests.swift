import Foundation
import XCTest
@testable import Kinema

/// The tiny random transformers of tools/reference/make_dit_fixtures.py.
enum DiTFixture: String, CaseIterable {
    case tiny12, tiny16, tiny24

    var dimensions: WanTransformer.Dimensions {
        switch self {
        case .tiny12:
            return .init(heads: 2, headDim: 12, ffnDim: 40, layers: 2, inChannels: 4, outChannels: 4,
                         textDim: 20, freqDim: 32, patchSize: [1, 2, 2])
        case .tiny16:
            return .init(heads: 3, headDim: 16, ffnDim: 64, layers: 3, inChannels: 8, outChannels: 8,
                         textDim: 24, freqDim: 16, patchSize: [1, 2, 2])
        case .tiny24:
            return .init(heads: 2, headDim: 24, ffnDim: 72, layers: 1, inChannels: 4, outChannels: 4,
                         textDim: 16, freqDim: 20, patchSize: [1, 2, 1])
        }
    }

    var directory: URL { fixtureURL("dit/\(rawValue)") }

    func weights() throws -> SafeTensorsCollection {
        try SafeTensorsCollection(directory: directory.appendingPathComponent("transformer"),
                                  prefix: "diffusion_pytorch_model")
    }

    func config() throws -> WanTransformerConfig {
        try WanTransformerConfig.load(contentsOf: directory.appendingPathComponent("transformer/config.json"))
    }

    func transformer(keepStoredPrecision: Bool = true) throws -> WanTransformer {
        try WanTransformer(config: try config(), weights: try weights(), keepStoredPrecision: keepStoredPrecision)
    }

    func schedulerConfig(_ kind: SamplerKind) throws -> SchedulerConfig {
        try SchedulerConfig.load(contentsOf: directory.appendingPathComponent("scheduler_\(kind.rawValue)/scheduler_config.json"))
    }

    func expected() throws -> SafeTensorsFile {
        try SafeTensorsFile(url: directory.appendingPathComponent("expected.safetensors"))
    }
}

/// Max abs error allowed against diffusers: 1e-4 of the reference output's largest magnitude.
func relativeTolerance(_ reference: Tensor) -> Float { 1e-4 * reference.maxAbs }

final class WanTransformerTests: XCTestCase {
    func testDimensionsFromConfig() throws {
        for fixture in DiTFixture.allCases {
            XCTAssertEqual(try WanTransformer.Dimensions(config: try fixture.config()), fixture.dimensions, "\(fixture)")
        }
        var i2v = WanTransformerConfig()
        i2v.imageDim = 1280
        i2v.addedKVProjDim = 5120
        XCTAssertThrowsError(try WanTransformer.Dimensions(config: i2v)) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .unsupported)
        }
    }

    func testForwardMatchesDiffusers() throws {
        for fixture in DiTFixture.allCases {
            let model = try fixture.transformer()
            let expected = try fixture.expected()
            let latent = try expected.tensor("forward.latent")
            let context = try expected.tensor("forward.context")
            let t = try expected.tensor("forward.timestep").data[0]
            let reference = try expected.tensor("forward.output")
            let out = try model.forward(latent: latent, timestep: t, context: context)
            assertClose(out, reference, tolerance: relativeTolerance(reference), "\(fixture) forward")
        }
    }

    /// A context per span of latent frames (beats) against diffusers' own blocks with each
    /// cross-attention run per span (tools/reference/make_beat_fixtures.py).
    func testContextScheduleMatchesDiffusers() throws {
        for fixture in [DiTFixture.tiny12, .tiny16] {
            let model = try fixture.transformer()
            let expected = try SafeTensorsFile(url: fixture.directory.appendingPathComponent("beats.safetensors"))
            let contexts = try expected.tensor("contexts")
            let (spans, rows, width) = (contexts.shape[0], contexts.shape[1], contexts.shape[2])
            let starts = try expected.tensor("starts").data.map { Int($0) }
            XCTAssertEqual(starts.count, spans)
            var schedule: [(firstFrame: Int, context: WanTransformer.PreparedContext)] = []
            for k in 0..<spans {
                let context = try Tensor(shape: [rows, width], data: Array(contexts.data[(k * rows * width)..<((k + 1) * rows * width)]))
                schedule.append((starts[k], try model.prepareContext(context)))
            }
            let reference = try expected.tensor("output")
            let out = try model.forward(latent: try expected.tensor("latent"), timestep: try expected.tensor("timestep").data[0],
                                        schedule: schedule)
            assertClose(out, reference, tolerance: relativeTolerance(reference), "\(fixture) beats")
            // Not the forward pass of any one of the contexts alone.
            let first = try model.forward(latent: try expected.tensor("latent"), timestep: try expected.tensor("timestep").data[0],
                                          prepared: schedule[0].context)
            XCTAssertGreaterThan(zip(first.data, reference.data).map { abs($0 - $1) }.max() ?? 0, 100 * relativeTolerance(reference))
        }
    }

    /// Leading clean latent frames (an image) against diffusers' transformer called with a
    /// per-token timestep, 0 on those frames' tokens (tools/reference/make_image_fixtures.py).
    func testCleanFramesMatchDiffusersPerTokenTimestep() throws {
        for fixture in [DiTFixture.tiny12, .tiny16] {
            let model = try fixture.transformer()
            let expected = try SafeTensorsFile(url: fixture.directory.appendingPathComponent("clean-frames.safetensors"))
            let latent = try expected.tensor("latent"), t = try expected.tensor("timestep").data[0]
            let clean = Int(try expected.tensor("clean_frames").data[0])
            let context = try model.prepareContext(try expected.tensor("context"))
            let reference = try expected.tensor("output")
            let out = try model.forward(latent: latent, timestep: t, schedule: [(0, context)], cleanFrames: clean)
            assertClose(out, reference, tolerance: relativeTolerance(reference), "\(fixture) \(clean) clean frames")
            // Not the forward pass at one timestep for every token.
            let plain = try model.forward(latent: latent, timestep: t, prepared: context)
            XCTAssertGreaterThan(zip(plain.data, reference.data).map { abs($0 - $1) }.max() ?? 0,
                                 100 * relativeTolerance(reference))
            for bad in [-1, latent.shape[1]] {
                XCTAssertThrowsError(try model.forward(latent: latent, timestep: t, schedule: [(0, context)], cleanFrames: bad),
                                     "\(bad) clean frames") { XCTAssertEqual(($0 as? KinemaError)?.code, .invalidArgument) }
            }
        }
    }

    func testScheduleOfOneContextIsThePlainForwardAndBadSchedulesAreErrors() throws {
        let fixture = DiTFixture.tiny12
        let model = try fixture.transformer()
        let expected = try fixture.expected()
        let latent = try expected.tensor("forward.latent")  // 3 latent frames
        let t = try expected.tensor("forward.timestep").data[0]
        let context = try model.prepareContext(try expected.tensor("forward.context"))
        let plain = try model.forward(latent: latent, timestep: t, prepared: context)
        let split = try model.forward(latent: latent, timestep: t, schedule: [(0, context), (1, context), (2, context)])
        assertClose(split, plain, tolerance: 1e-6 * plain.maxAbs, "one context in three spans")
        for starts in [[1], [0, 0], [0, 2, 1], [0, 3]] {
            XCTAssertThrowsError(try model.forward(latent: latent, timestep: t, schedule: starts.map { ($0, context) }),
                                 "\(starts)") { XCTAssertEqual(($0 as? KinemaError)?.code, .invalidArgument) }
        }
        XCTAssertThrowsError(try model.forward(latent: latent, timestep: t, schedule: [])) {
            XCTAssertEqual(($0 as? KinemaError)?.code, .invalidArgument)
        }
    }

    /// The context's zero padding is kept as one key counted n times; the result must equal the
    /// plain computation over every row.
    func testRepeatedPaddingShortcutIsExact() throws {
        for fixture in DiTFixture.allCases {
            let model = try fixture.transformer()
            let expected = try fixture.expected()
            let latent = try expected.tensor("forward.latent")
            let context = try expected.tensor("forward.context")
            let t = try expected.tensor("forward.timestep").data[0]
            let merged = try model.prepareContext(context)
            let full = try model.prepareContext(context, mergeRepeatedRows: false)
            XCTAssertEqual(full.rows, context.shape[0])
            XCTAssertLessThan(merged.rows, full.rows, "\(fixture): padding rows were not merged")
            let a = try model.forward(latent: latent, timestep: t, prepared: merged)
            let b = try model.forward(latent: latent, timestep: t, prepared: full)
            assertClose(a, b, tolerance: 2e-6 * b.maxAbs, "\(fixture) merged vs full context")
            assertClose(a, try expected.tensor("forward.output"), tolerance: relativeTolerance(b), "\(fixture)")
        }
        // 7 real rows then 9 zero rows: 7 rows plus one pad row counted 9 times.
        let model = try DiTFixture.tiny12.transformer()
        let prepared = try model.prepareContext(try DiTFixture.tiny12.expected().tensor("forward.context"))
        XCTAssertEqual(prepared.rows, 8)
        XCTAssertEqual(prepared.keyBias?[7] ?? 0, logf(9), accuracy: 1e-6)
        XCTAssertEqual(prepared.keyBias?[0 ..< 7].allSatisfy { $0 == 0 }, true)
    }

    func testRepeatedRowDetection() throws {
        let rows: [[Float]] = [[1, 2], [3, 4], [0, 0], [0, 0], [0, 0]]
        let t = try Tensor(shape: [5, 2], data: rows.flatMap { $0 })
        XCTAssertEqual(WanTransformer.firstRepeatedTrailingRow(t), 2)
        let distinct = try Tensor(shape: [3, 2], data: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(WanTransformer.firstRepeatedTrailingRow(distinct), 2)
        let same = try Tensor(shape: [3, 1], data: [7, 7, 7])
        XCTAssertEqual(WanTransformer.firstRepeatedTrailingRow(same), 0)
    }

    /// 16-bit weights widened per use and widened at load give the same numbers.
    func testStoredPrecisionMatchesWidenedAtLoad() throws {
        for fixture in [DiTFixture.tiny16, .tiny24] {
            let expected = try fixture.expected()
            let latent = try expected.tensor("forward.latent")
            let context = try expected.tensor("forward.context")
            let t = try expected.tensor("forward.timestep").data[0]
            let kept = try fixture.transformer(keepStoredPrecision: true)
            let widened = try fixture.transformer(keepStoredPrecision: false)
            XCTAssertNotEqual(kept.blocks[0].ffnUp.weight.dtype, .f32)
            XCTAssertEqual(widened.blocks[0].ffnUp.weight.dtype, .f32)
            let a = try kept.forward(latent: latent, timestep: t, context: context)
            let b = try widened.forward(latent: latent, timestep: t, context: context)
            XCTAssertEqual(a, b, "\(fixture)")
        }
    }

    // MARK: - Layouts

    func testOriginalAndSingleFileLayoutsLoadToIdenticalOutputs() throws {
        let fixture = DiTFixture.tiny12
        let expected = try fixture.expected()
        let latent = try expected.tensor("forward.latent")
        let context = try expected.tensor("forward.context")
        let t = try expected.tensor("forward.timestep").data[0]
        let reference = try fixture.transformer().forward(latent: latent, timestep: t, context: context)

        let originalURL = fixture.directory.appendingPathComponent("original/diffusion_pytorch_model.safetensors")
        let original = try SafeTensorsCollection(file: originalURL)
        XCTAssertEqual(WanTransformerWeights.layout(of: original.names), .original)
        XCTAssertTrue(original.names.contains("blocks.0.norm3.weight"))
        let fromOriginal = try WanTransformer(dimensions: fixture.dimensions, weights: original)
        XCTAssertEqual(try fromOriginal.forward(latent: latent, timestep: t, context: context), reference)

        // A single-file repack: the original names behind "model.diffusion_model.", beside
        // tensors of other models that the loader must leave alone.
        let dir = try makeTemporaryDirectory(self)
        let single = dir.appendingPathComponent("wan.safetensors")
        var tensors = try original.names.map { (name: "model.diffusion_model." + $0, tensor: try original.tensor($0)) }
        tensors.append((name: "first_stage_model.decoder.conv.weight", tensor: Tensor(zeros: [2, 2])))
        try SafeTensorsWriter.write(tensors, to: single)
        let fromSingle = try WanTransformer(dimensions: fixture.dimensions, weights: try SafeTensorsCollection(file: single))
        XCTAssertEqual(try fromSingle.forward(latent: latent, timestep: t, context: context), reference)
    }

    func testOriginalNamesMapToDiffusersNames() {
        let cases: [(String, String)] = [
            ("patch_embedding.weight", "patch_embedding.weight"),
            ("time_embedding.0.weight", "condition_embedder.time_embedder.linear_1.weight"),
            ("time_embedding.2.bias", "condition_embedder.time_embedder.linear_2.bias"),
            ("text_embedding.0.weight", "condition_embedder.text_embedder.linear_1.weight"),
            ("text_embedding.2.bias", "condition_embedder.text_embedder.linear_2.bias"),
            ("time_projection.1.weight", "condition_embedder.time_proj.weight"),
            ("head.modulation", "scale_shift_table"),
            ("head.head.weight", "proj_out.weight"),
            ("blocks.3.modulation", "blocks.3.scale_shift_table"),
            ("blocks.3.self_attn.q.weight", "blocks.3.attn1.to_q.weight"),
            ("blocks.3.self_attn.o.bias", "blocks.3.attn1.to_out.0.bias"),
            ("blocks.3.self_attn.norm_k.weight", "blocks.3.attn1.norm_k.weight"),
            ("blocks.12.cross_attn.v.weight", "blocks.12.attn2.to_v.weight"),
            ("blocks.12.cross_attn.norm_q.weight", "blocks.12.attn2.norm_q.weight"),
            ("blocks.0.norm3.weight", "blocks.0.norm2.weight"),
            ("blocks.0.norm2.bias", "blocks.0.norm3.bias"),
            ("blocks.0.ffn.0.weight", "blocks.0.ffn.net.0.proj.weight"),
            ("blocks.0.ffn.2.bias", "blocks.0.ffn.net.2.bias"),
            ("blocks.0.something.weight", "blocks.0.something.weight"),
            ("img_emb.proj.0.weight", "img_emb.proj.0.weight"),
        ]
        for (original, diffusers) in cases {
            XCTAssertEqual(WanTransformerWeights.diffusersName(fromOriginal: original), diffusers, original)
        }
        XCTAssertEqual(WanTransformerWeights.strippingSingleFilePrefix("model.diffusion_model.head.head.bias"), "head.head.bias")
        XCTAssertNil(WanTransformerWeights.strippingSingleFilePrefix("head.head.bias"))
        XCTAssertEqual(WanTransformerWeights.layout(of: ["blocks.0.attn1.to_q.weight"]), .diffusers)
        XCTAssertEqual(WanTransformerWeights.layout(of: ["blocks.0.self_attn.q.weight"]), .original)
    }

    func testStrictLoadingListsEveryBadTensor() throws {
        let fixture = DiTFixture.tiny12
        let source = try fixture.weights()
        let dir = try makeTemporaryDirectory(self)
        var tensors: [(name: String, tensor: Tensor)] = []
        for name in source.names where name != "blocks.1.attn2.norm_k.weight" {
            var t = try source.tensor(name)
            if name == "blocks.0.ffn.net.2.weight" { t = try t.reshaped([t.shape[1], t.shape[0]]) }
            tensors.append((name: name, tensor: t))
        }
        tensors.append((name: "blocks.0.attn1.extra.weight", tensor: Tensor(zeros: [3])))
        let url = dir.appendingPathComponent("broken.safetensors")
        try SafeTensorsWriter.write(tensors, to: url)
        XCTAssertThrowsError(try WanTransformer(dimensions: fixture.dimensions,
                                                weights: try SafeTensorsCollection(file: url))) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("blocks.1.attn2.norm_k.weight"), message)
            XCTAssertTrue(message.contains("blocks.0.attn1.extra.weight"), message)
            XCTAssertTrue(message.contains("blocks.0.ffn.net.2.weight"), message)
        }
        // Weights of another configuration: every block beyond the second is missing.
        var bigger = fixture.dimensions
        bigger.layers = 3
        XCTAssertThrowsError(try WanTransformer(dimensions: bigger, weights: source)) { error in
            XCTAssertTrue("\(error)".contains("blocks.2.attn1.to_q.weight"), "\(error)")
        }
    }

    func testBadInputsAreErrors() throws {
        let model = try DiTFixture.tiny12.transformer()
        let expected = try DiTFixture.tiny12.expected()
        let context = try expected.tensor("forward.context")
        let prepared = try model.prepareContext(context)
        XCTAssertThrowsError(try model.forward(latent: Tensor(zeros: [4, 3, 5, 6]), timestep: 1, prepared: prepared))
        XCTAssertThrowsError(try model.forward(latent: Tensor(zeros: [3, 3, 4, 6]), timestep: 1, prepared: prepared))
        XCTAssertThrowsError(try model.forward(latent: Tensor(zeros: [4, 3, 4, 6]), timestep: .nan, prepared: prepared))
        XCTAssertThrowsError(try model.prepareContext(Tensor(zeros: [5, 7])))
        let other = try DiTFixture.tiny12.transformer()
        XCTAssertThrowsError(try other.forward(latent: Tensor(zeros: [4, 3, 4, 6]), timestep: 1, prepared: prepared))
        var bad = WanTransformer.Dimensions.wan21T2V1_3B
        bad.headDim = 13
        XCTAssertThrowsError(try bad.validate())
    }

    // MARK: - Threads and cancellation

    func testConcurrentForwardPassesAgree() throws {
        let fixture = DiTFixture.tiny16
        let model = try fixture.transformer()
        let expected = try fixture.expected()
        let latent = try expected.tensor("forward.latent")
        let prepared = try model.prepareContext(try expected.tensor("forward.context"))
        let t = try expected.tensor("forward.timestep").data[0]
        let reference = try model.forward(latent: latent, timestep: t, prepared: prepared)
        let results = ResultBox(count: 4)
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            results.set(i, try? model.forward(latent: latent, timestep: t, prepared: prepared))
        }
        for i in 0..<4 { XCTAssertEqual(results.get(i), reference) }
    }

    /// Cancelling while block 1 runs stops the pass before another block finishes.
    func testCancellationFromAnotherThreadStopsWithinOneBlock() throws {
        let fixture = DiTFixture.tiny16
        let model = try fixture.transformer()
        let expected = try fixture.expected()
        let latent = try expected.tensor("forward.latent")
        let prepared = try model.prepareContext(try expected.tensor("forward.context"))
        let token = CancellationToken()
        let reachedBlock = DispatchSemaphore(value: 0)
        let cancelled = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            reachedBlock.wait()
            token.cancel()
            cancelled.signal()
        }
        var finished: [Int] = []
        XCTAssertThrowsError(try model.forward(latent: latent, timestep: 500, prepared: prepared, cancel: token) { done, _ in
            finished.append(done)
            if done == 1 {
                reachedBlock.signal()
                cancelled.wait()
            }
        }) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .cancelled)
        }
        XCTAssertEqual(finished, [1])
    }

    func testAttentionPollsTheToken() throws {
        let model = try DiTFixture.tiny12.transformer()
        let prepared = try model.prepareContext(try DiTFixture.tiny12.expected().tensor("forward.context"))
        let token = CancellationToken()
        token.cancel()
        XCTAssertThrowsError(try model.forward(latent: Tensor(zeros: [4, 3, 4, 6]), timestep: 3, prepared: prepared,
                                               cancel: token)) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .cancelled)
        }
    }
}

/// Thread-safe slots for results computed on several threads.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Tensor?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: Tensor?) { lock.lock(); values[i] = value; lock.unlock() }
    func get(_ i: Int) -> Tensor? { lock.lock(); defer { lock.unlock() }; return values[i] }
}
