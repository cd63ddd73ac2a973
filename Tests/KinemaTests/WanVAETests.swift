import Foundation
import XCTest
@testable import Kinema

/// Wan VAE against diffusers' AutoencoderKLWan on two tiny random configurations
/// (tools/reference/make_vae_fixtures.py), plus the streaming, tiling and loading behaviour.
final class WanVAETests: XCTestCase {
    /// Decoded pixels are in [−1, 1]; float32 on both sides.
    static let decodeTolerance: Float = 1e-4
    /// Normalised latents are O(1) (|z| < 1.2 in the fixtures); float32 on both sides.
    static let encodeTolerance: Float = 1e-5

    static let configurations = ["tiny_a", "tiny_b"]

    private func folder(_ name: String) -> URL { fixtureURL("vae/\(name)/vae") }

    private func expected(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(url: fixtureURL("vae/\(name)/expected.safetensors"))
    }

    /// The first `n` entries along dimension 1 of [C, T, H, W].
    private func prefix(_ t: Tensor, frames n: Int) throws -> Tensor {
        let (c, total, h, w) = (t.shape[0], t.shape[1], t.shape[2], t.shape[3])
        var out: [Float] = []
        for ch in 0..<c { out += t.data[(ch * total * h * w)..<((ch * total + n) * h * w)] }
        return try Tensor(shape: [c, n, h, w], data: out)
    }

    // MARK: - Parity with diffusers

    func testDecodeMatchesReference() throws {
        for name in Self.configurations {
            let vae = try WanVAE(directory: folder(name))
            let ref = try expected(name)
            let latent = try ref.tensor("decode.latent"), video = try ref.tensor("decode.video")
            for t in [1, 2, 3, 5] {
                let out = try vae.decoder.decode(latent: prefix(latent, frames: t))
                let frames = vae.decoder.outputFrameCount(latentFrames: t)
                assertClose(out, try prefix(video, frames: frames), tolerance: Self.decodeTolerance, "\(name) decode T=\(t)")
            }
        }
    }

    func testEncodeMatchesReference() throws {
        for name in Self.configurations {
            let vae = try WanVAE(directory: folder(name))
            let ref = try expected(name)
            let video = try ref.tensor("encode.video"), latent = try ref.tensor("encode.latent")
            let perLatent = vae.config.temporalCompression
            for f in [1, 5, 9] {
                let out = try vae.encoder.encode(video: prefix(video, frames: f))
                assertClose(out, try prefix(latent, frames: 1 + (f - 1) / perLatent), tolerance: Self.encodeTolerance,
                            "\(name) encode F=\(f)")
            }
        }
    }

    // MARK: - Streaming

    func testStreamingHandsOverFramesInOrder() throws {
        let vae = try WanVAE(directory: folder("tiny_b"))
        let latent = try expected("tiny_b").tensor("decode.latent")
        var chunks: [Tensor] = []
        try vae.decoder.decode(latent: latent) { chunks.append($0) }
        XCTAssertEqual(chunks.map { $0.shape }, [[3, 1, 16, 24]] + Array(repeating: [3, 4, 16, 24], count: 4))
        let whole = try vae.decoder.decode(latent: latent)
        XCTAssertEqual(whole.shape, [3, 17, 16, 24])
        XCTAssertEqual(try concatenateFrames(chunks), whole)
    }

    func testCancellationStopsDecoding() throws {
        let vae = try WanVAE(directory: folder("tiny_a"))
        let latent = try expected("tiny_a").tensor("decode.latent")
        let token = CancellationToken()
        var calls = 0
        assertKinemaError(.cancelled, containing: []) {
            try vae.decoder.decode(latent: latent, cancel: token) { _ in
                calls += 1
                token.cancel()
            }
        }
        XCTAssertEqual(calls, 1)
        token.cancel()
        assertKinemaError(.cancelled, containing: []) {
            _ = try vae.encoder.encode(video: try expected("tiny_a").tensor("encode.video"), cancel: token)
        }
    }

    // MARK: - Tiling

    func testTiledDecodeMatchesWholeFrames() throws {
        let vae = try WanVAE(directory: folder("tiny_a"))
        let (t, h, w) = (3, 6, 8)
        var values: [Float] = []
        var state: UInt64 = 42
        for _ in 0..<(vae.config.zDim * t * h * w) {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            values.append(Float(Int64(bitPattern: state >> 11) % 2000) / 1000)
        }
        let latent = try Tensor(shape: [vae.config.zDim, t, h, w], data: values)
        let whole = try vae.decoder.plan(latentFrames: t, latentHeight: h, latentWidth: w)
        XCTAssertFalse(whole.isTiled)

        // A budget just under the whole-frame estimate forces tiles.
        let budget = whole.estimatedBytes - 1
        let tiled = try vae.decoder.plan(latentFrames: t, latentHeight: h, latentWidth: w, memoryBudgetBytes: budget)
        XCTAssertTrue(tiled.isTiled)
        XCTAssertLessThanOrEqual(tiled.estimatedBytes, budget)

        let reference = try vae.decoder.decode(latent: latent)
        var chunks: [Tensor] = []
        try vae.decoder.decode(latent: latent, memoryBudgetBytes: budget) { chunks.append($0) }
        XCTAssertEqual(chunks.map { $0.shape[1] }, [1, 2, 2])
        // Tiles recompute the pixels they need, so only summation order differs.
        assertClose(try concatenateFrames(chunks), reference, tolerance: 1e-5, "tiled")

        // Other grids, down to tiles of 2 × 2 latent pixels, agree as well.
        for (rows, columns) in [(2, 1), (1, 3), (3, 4)] {
            var chunks: [Tensor] = []
            try vae.decoder.decode(latent: latent, plan: .init(tileRows: rows, tileColumns: columns, estimatedBytes: 0),
                                   cancel: nil) { chunks.append($0) }
            assertClose(try concatenateFrames(chunks), reference, tolerance: 1e-5, "grid \(rows)×\(columns)")
        }

        assertKinemaError(.outOfMemory, containing: ["memoryBudgetBytes"]) {
            _ = try vae.decoder.plan(latentFrames: t, latentHeight: h, latentWidth: w, memoryBudgetBytes: 1000)
        }
    }

    // MARK: - Loading

    /// original name → diffusers name, from the fixture script (checked there against
    /// diffusers' own converter).
    private func originalNames(_ name: String) throws -> [String: String] {
        let data = try Data(contentsOf: fixtureURL("vae/\(name)/original_names.json"))
        return try JSONDecoder().decode([String: String].self, from: data)
    }

    func testOriginalNamesMapToDiffusersNames() throws {
        for name in Self.configurations {
            let config = try WanVAEConfig.load(contentsOf: folder(name).appendingPathComponent("config.json"))
            for (original, diffusers) in try originalNames(name) {
                XCTAssertEqual(WanVAEKeys.diffusersName(original: original, numResBlocks: config.numResBlocks), diffusers)
            }
        }
        XCTAssertEqual(WanVAEKeys.diffusersName(original: "decoder.upsamples.3.resample.1.weight", numResBlocks: 2),
                       "decoder.up_blocks.0.upsamplers.0.resample.1.weight")
        XCTAssertEqual(WanVAEKeys.diffusersName(original: "decoder.upsamples.4.shortcut.bias", numResBlocks: 2),
                       "decoder.up_blocks.1.resnets.0.conv_shortcut.bias")
        XCTAssertEqual(WanVAEKeys.diffusersName(original: "something.else", numResBlocks: 2), "something.else")
    }

    func testOriginalCheckpointGivesIdenticalOutputs() throws {
        for name in Self.configurations {
            let dir = try makeTemporaryDirectory(self)
            let diffusers = try SafeTensorsFile(url: folder(name).appendingPathComponent("diffusion_pytorch_model.safetensors"))
            let renamed = try originalNames(name).map { (original, key) in (name: original, tensor: try diffusers.tensor(key)) }
            let file = dir.appendingPathComponent("Wan2.1_VAE.safetensors")
            try SafeTensorsWriter.write(renamed, to: file)

            let config = try WanVAEConfig.load(contentsOf: folder(name).appendingPathComponent("config.json"))
            let original = try WanVAE(config: config, weights: try SafeTensorsFile(url: file))
            let reference = try WanVAE(directory: folder(name))
            let ref = try expected(name)
            let latent = try prefix(try ref.tensor("decode.latent"), frames: 2)
            XCTAssertEqual(try original.decoder.decode(latent: latent), try reference.decoder.decode(latent: latent), name)
            let video = try prefix(try ref.tensor("encode.video"), frames: 5)
            XCTAssertEqual(try original.encoder.encode(video: video), try reference.encoder.encode(video: video), name)
            // The halves load on their own from the full checkpoint.
            XCTAssertEqual(try WanVAEDecoder(config: config, weights: try SafeTensorsFile(url: file)).decode(latent: latent),
                           try reference.decoder.decode(latent: latent))
        }
    }

    func testTensorShapesListTheCheckpoint() throws {
        for name in Self.configurations {
            let config = try WanVAEConfig.load(contentsOf: folder(name).appendingPathComponent("config.json"))
            let file = try SafeTensorsFile(url: folder(name).appendingPathComponent("diffusion_pytorch_model.safetensors"))
            var shapes: [String: [Int]] = [:]
            for n in file.names { shapes[n] = file.info(n)?.shape }
            XCTAssertEqual(try WanVAE.tensorShapes(config: config), shapes, name)
        }
        // The Wan2.1 VAE: 194 tensors, 126.9 M parameters, as diffusers builds it.
        let shapes = try WanVAE.tensorShapes(config: WanVAEConfig())
        XCTAssertEqual(shapes["decoder.up_blocks.0.upsamplers.0.time_conv.weight"], [768, 384, 3, 1, 1])
        XCTAssertEqual(shapes["decoder.up_blocks.0.upsamplers.0.resample.1.weight"], [192, 384, 3, 3])
        XCTAssertEqual(shapes["decoder.up_blocks.1.resnets.0.conv_shortcut.weight"], [384, 192, 1, 1, 1])
        XCTAssertEqual(shapes["encoder.conv_out.weight"], [32, 384, 3, 3, 3])
        XCTAssertEqual(shapes["decoder.mid_block.attentions.0.norm.gamma"], [384, 1, 1])
        XCTAssertEqual(shapes.count, 194)
        XCTAssertEqual(shapes.values.reduce(0) { $0 + $1.reduce(1, *) }, 126_892_531)
    }

    func testStrictLoadingListsEveryProblem() throws {
        let dir = try makeTemporaryDirectory(self)
        let source = try SafeTensorsFile(url: folder("tiny_a").appendingPathComponent("diffusion_pytorch_model.safetensors"))
        var tensors = try source.names.map { (name: $0, tensor: try source.tensor($0)) }
        tensors.removeAll { $0.name == "decoder.conv_in.bias" }
        tensors.append((name: "decoder.extra.weight", tensor: Tensor(zeros: [2])))
        tensors.append((name: "encoder.extra.weight", tensor: Tensor(zeros: [2])))
        let index = try XCTUnwrap(tensors.firstIndex { $0.name == "decoder.norm_out.gamma" })
        tensors[index].tensor = Tensor(zeros: [3, 1, 1, 1])
        let file = dir.appendingPathComponent("broken.safetensors")
        try SafeTensorsWriter.write(tensors, to: file)
        let config = try WanVAEConfig.load(contentsOf: folder("tiny_a").appendingPathComponent("config.json"))

        assertKinemaError(.missingComponent, containing: [
            "missing 1: decoder.conv_in.bias", "unexpected 2: decoder.extra.weight, encoder.extra.weight",
            "decoder.norm_out.gamma is [3, 1, 1, 1], expected [4, 1, 1, 1]", file.lastPathComponent,
        ]) { _ = try WanVAE(config: config, weights: try SafeTensorsFile(url: file)) }
        // The decoder alone leaves the encoder half to the encoder.
        assertKinemaError(.missingComponent, containing: ["decoder.conv_in.bias", "unexpected 1: decoder.extra.weight"]) {
            _ = try WanVAEDecoder(config: config, weights: try SafeTensorsFile(url: file))
        }
        assertKinemaError(.missingComponent, containing: ["unexpected 1: encoder.extra.weight"]) {
            _ = try WanVAEEncoder(config: config, weights: try SafeTensorsFile(url: file))
        }
    }

    func testRejectsBadInputs() throws {
        let vae = try WanVAE(directory: folder("tiny_a"))
        assertKinemaError(.shapeMismatch, containing: ["[4, T, h, w]"]) {
            _ = try vae.decoder.decode(latent: Tensor(zeros: [3, 1, 2, 2]))
        }
        assertKinemaError(.invalidArgument, containing: ["empty"]) {
            _ = try vae.decoder.decode(latent: Tensor(zeros: [4, 0, 2, 2]))
        }
        assertKinemaError(.invalidArgument, containing: ["4 frames"]) {
            _ = try vae.encoder.encode(video: Tensor(zeros: [3, 4, 16, 16]))
        }
        assertKinemaError(.invalidArgument, containing: ["multiple of 4"]) {
            _ = try vae.encoder.encode(video: Tensor(zeros: [3, 1, 16, 18]))
        }
        var config = vae.config
        config.isResidual = true
        assertKinemaError(.unsupported, containing: ["is_residual"]) {
            _ = try WanVAE(config: config, weights: try SafeTensorsFile(url: self.folder("tiny_a").appendingPathComponent("diffusion_pytorch_model.safetensors")))
        }
    }

    // MARK: - Kernels

    func testFusedNormSiLUEqualsNormThenSiLU() throws {
        let channels = 7, positions = 3000
        let x = (0..<(channels * positions)).map { Float(sin(Double($0) * 0.37)) * 3 }
        let gamma = (0..<channels).map { Float($0) * 0.3 - 0.8 }
        let separate = try Tensor(shape: [channels, positions], data: x).channelRMSNorm(gamma: try Tensor(shape: [channels], data: gamma)).silu()
        var fused = x
        gamma.withPointer { g in
            fused.withMutablePointer { p in Norm.channelRMSNormSiLU(p, channels: channels, positions: positions, gamma: g, out: p) }
        }
        // The scalar tails use expf, the vector loops expVec: a few ulps apart.
        assertClose(try Tensor(shape: [channels, positions], data: fused), separate, tolerance: 1e-6, "fused norm+silu")
    }

    // MARK: - Frame convolution kernel

    /// Plain loops: conv over a virtual input (window of a source, optional nearest ×2).
    private func referenceFrameConv(_ x: [Float], _ g: FrameConvolution, _ weight: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: g.outChannels * g.outputHeight * g.outputWidth)
        for co in 0..<g.outChannels {
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    var s: Float = 0
                    for c in 0..<g.inChannels {
                        for dy in 0..<g.kernelHeight {
                            for dx in 0..<g.kernelWidth {
                                let iy = oy * g.strideHeight + dy - g.padTop, ix = ox * g.strideWidth + dx - g.padLeft
                                guard iy >= 0, iy < g.inputHeight, ix >= 0, ix < g.inputWidth else { continue }
                                let v = x[c * g.sourcePlaneStride + (iy / g.upsample) * g.sourceRowStride + ix / g.upsample]
                                s += v * weight[((co * g.inChannels + c) * g.kernelHeight + dy) * g.kernelWidth + dx]
                            }
                        }
                    }
                    out[(co * g.outputHeight + oy) * g.outputWidth + ox] = s
                }
            }
        }
        return out
    }

    func testFrameConvolutionMatchesLoops() throws {
        func values(_ n: Int, _ seed: Int) -> [Float] { (0..<n).map { Float(sin(Double($0 * 7 + seed)) * 0.5) } }
        let cin = 5, cout = 4, h = 7, w = 9
        let x = values(cin * h * w, 1)
        let cases: [(String, FrameConvolution)] = [
            ("same 3x3", .same(inChannels: cin, outChannels: cout, kernel: 3, height: h, width: w)),
            ("window", FrameConvolution(inChannels: cin, outChannels: cout, kernelHeight: 3, kernelWidth: 3,
                                        padTop: -1, padLeft: 0, inputHeight: h, inputWidth: w, outputHeight: 4, outputWidth: 8,
                                        sourcePlaneStride: h * w, sourceRowStride: w)),
            ("upsample", FrameConvolution(inChannels: cin, outChannels: cout, kernelHeight: 3, kernelWidth: 3,
                                          padTop: 0, padLeft: 1, inputHeight: 2 * h, inputWidth: 2 * w,
                                          outputHeight: 2 * h - 1, outputWidth: 2 * w - 3, upsample: 2,
                                          sourcePlaneStride: h * w, sourceRowStride: w)),
            ("upsample window", FrameConvolution(inChannels: cin, outChannels: cout, kernelHeight: 3, kernelWidth: 3,
                                                 padTop: -3, padLeft: 2, inputHeight: 2 * h, inputWidth: 2 * w,
                                                 outputHeight: 9, outputWidth: 10, upsample: 2,
                                                 sourcePlaneStride: h * w, sourceRowStride: w)),
            ("stride 2", FrameConvolution(inChannels: cin, outChannels: cout, kernelHeight: 3, kernelWidth: 3,
                                          strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0, inputHeight: h, inputWidth: w,
                                          outputHeight: 3, outputWidth: 4, sourcePlaneStride: h * w, sourceRowStride: w)),
            ("1x1 rows", FrameConvolution(inChannels: cin, outChannels: cout, kernelHeight: 1, kernelWidth: 1,
                                          padTop: -2, padLeft: 0, inputHeight: h, inputWidth: w, outputHeight: 4, outputWidth: w,
                                          sourcePlaneStride: h * w, sourceRowStride: w)),
            ("1x1 window", FrameConvolution(inChannels: cin, outChannels: cout, kernelHeight: 1, kernelWidth: 1,
                                            padTop: -2, padLeft: -3, inputHeight: h, inputWidth: w, outputHeight: 4, outputWidth: 5,
                                            sourcePlaneStride: h * w, sourceRowStride: w)),
        ]
        for (label, g) in cases {
            let groups = 3
            let weights = values(groups * g.outChannels * g.columnLength, 2)
            let plane = g.outputHeight * g.outputWidth
            // One group on its own and three groups sharing the columns.
            for group in [[0], [0, 1, 2]] {
                let buffers = group.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: g.outChannels * plane) }
                defer { buffers.forEach { $0.deallocate() } }
                for b in buffers { b.update(repeating: 0.25, count: g.outChannels * plane) }
                try x.withPointer { xp in
                    try weights.withPointer { wp in
                        try Convolution.accumulateFrame(input: xp, geometry: g, weights: wp, outputs: buffers)
                    }
                }
                let outs = buffers.map { Array(UnsafeBufferPointer(start: $0, count: g.outChannels * plane)) }
                for i in group {
                    let w = Array(weights[(i * g.outChannels * g.columnLength)..<((i + 1) * g.outChannels * g.columnLength)])
                    let expect = try Tensor(shape: [g.outChannels * plane], data: referenceFrameConv(x, g, w).map { $0 + 0.25 })
                    assertClose(try Tensor(shape: [g.outChannels * plane], data: outs[i]), expect, tolerance: 1e-5,
                                "\(label) group \(i) of \(group.count)")
                }
            }
        }
    }
}
