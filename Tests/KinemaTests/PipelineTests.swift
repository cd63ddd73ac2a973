import Foundation
import XCTest
@testable import Kinema

/// End to end on the tiny random diffusers pipeline (Fixtures/tiny-pipeline), against
/// `WanPipeline.__call__(output_type="np")` (tools/reference/make_pipeline_fixtures.py).
final class PipelineTests: XCTestCase {
    static let modelURL = fixtureURL("tiny-pipeline")
    nonisolated(unsafe) static var shared: Pipeline?

    func pipeline() throws -> Pipeline {
        if let p = PipelineTests.shared { return p }
        let p = try Pipeline(modelDirectory: PipelineTests.modelURL)
        PipelineTests.shared = p
        return p
    }

    struct Case: Decodable {
        let name: String, sampler: String, guidance: Float, frames: Int
        let prompt: String, negative_prompt: String, height: Int, width: Int, steps: Int
    }

    func cases() throws -> [Case] {
        let data = try Data(contentsOf: fixtureURL("pipeline/cases.json"))
        return try JSONDecoder().decode([Case].self, from: data)
    }

    func request(_ c: Case, latents: Tensor) -> GenerationRequest {
        var r = GenerationRequest(prompt: c.prompt)
        r.negativePrompt = c.negative_prompt
        r.width = c.width; r.height = c.height; r.frames = c.frames
        r.steps = c.steps; r.guidance = c.guidance
        r.sampler = SamplerKind(rawValue: c.sampler)
        r.initialLatents = latents
        return r
    }

    /// Both samplers, guidance 1 and 5, two frame counts: the `.safetensors` output equals
    /// diffusers' frames within 1e-3 (max abs, values in [0, 1]).
    func testMatchesDiffusersWanPipeline() throws {
        let p = try pipeline()
        let dir = try makeTemporaryDirectory(self)
        let all = try cases()
        XCTAssertEqual(all.count, 4)
        for c in all {
            let fixture = try SafeTensorsFile(url: fixtureURL("pipeline/\(c.name).safetensors"))
            var r = request(c, latents: try fixture.tensor("latents"))
            let out = dir.appendingPathComponent("\(c.name).safetensors")
            r.outputPath = out.path
            let result = try p.generate(r)
            XCTAssertEqual(result.frames, c.frames, c.name)
            let video = try SafeTensorsFile(url: out).tensor("video")
            let expected = try fixture.tensor("video")
            assertClose(video, expected, tolerance: 1e-3, c.name)
        }
    }

    /// Image-to-video: the image as the first frame, held fixed at timestep 0, against
    /// diffusers' `WanImageToVideoPipeline(expand_timesteps=True)` on the same image and initial
    /// latents (tools/reference/make_image_fixtures.py), within the same 1e-3.
    func testImageToVideoMatchesDiffusers() throws {
        let p = try pipeline()
        let dir = try makeTemporaryDirectory(self)
        let data = try Data(contentsOf: fixtureURL("pipeline/image-cases.json"))
        let all = try JSONDecoder().decode([Case].self, from: data)
        XCTAssertEqual(all.count, 2)
        for c in all {
            let fixture = try SafeTensorsFile(url: fixtureURL("pipeline/\(c.name).safetensors"))
            var r = request(c, latents: try fixture.tensor("latents"))
            r.image = try rgbImage(try fixture.tensor("image"))
            r.returnFrames = true
            let result = try p.generate(r)
            let expected = try fixture.tensor("video")
            guard let video = result.video else { return XCTFail("no frames returned") }
            assertClose(video, expected, tolerance: 1e-3, c.name)
            // The same latents without the image give another clip.
            var plain = request(c, latents: try fixture.tensor("latents"))
            plain.returnFrames = true
            let other = try XCTUnwrap(try p.generate(plain).video)
            XCTAssertGreaterThan(zip(other.data, expected.data).map { abs($0 - $1) }.max() ?? 0, 0.05, c.name)
        }
    }

    /// Bad images and clips too short for one are errors named as such, before any work.
    func testImageErrors() throws {
        let p = try pipeline()
        let dir = try makeTemporaryDirectory(self)
        func code(_ image: ImageInput, frames: Int = 5) -> KinemaError.Code? {
            var r = GenerationRequest(prompt: "A cat.")
            r.width = 32; r.height = 32; r.frames = frames; r.steps = 1; r.seed = 1
            r.image = image
            do { _ = try p.generate(r); return nil } catch { return (error as? KinemaError)?.code }
        }
        let grey = ImageInput.rgb(width: 2, height: 2, pixels: [UInt8](repeating: 128, count: 12))
        XCTAssertEqual(code(.rgb(width: 2, height: 2, pixels: [1, 2, 3])), .invalidArgument)
        XCTAssertEqual(code(.rgb(width: 0, height: 2, pixels: [])), .invalidArgument)
        XCTAssertEqual(code(.rgb(width: 20000, height: 1, pixels: [])), .invalidArgument)
        XCTAssertEqual(code(grey, frames: 1), .invalidArgument)
        XCTAssertEqual(code(.file(dir.appendingPathComponent("missing.png"))), .io)
        let junk = dir.appendingPathComponent("junk.png")
        try Data("not a picture".utf8).write(to: junk)
        XCTAssertEqual(code(.file(junk)), .corruptFile)
        XCTAssertNil(code(grey))
    }

    func testSameSeedGivesIdenticalBytes() throws {
        let p = try pipeline()
        let dir = try makeTemporaryDirectory(self)
        var r = GenerationRequest(prompt: "A cat walks on the grass.")
        r.width = 32; r.height = 32; r.frames = 3; r.steps = 3; r.seed = 42
        r.outputPath = dir.appendingPathComponent("a.safetensors").path
        let a = try p.generate(r)
        r.outputPath = dir.appendingPathComponent("b.safetensors").path
        _ = try p.generate(r)
        XCTAssertEqual(a.seed, 42)
        let bytesA = try Data(contentsOf: dir.appendingPathComponent("a.safetensors"))
        let bytesB = try Data(contentsOf: dir.appendingPathComponent("b.safetensors"))
        XCTAssertEqual(bytesA, bytesB)
        r.seed = 43
        r.outputPath = dir.appendingPathComponent("c.safetensors").path
        _ = try p.generate(r)
        XCTAssertNotEqual(bytesA, try Data(contentsOf: dir.appendingPathComponent("c.safetensors")))
    }

    /// H.264 MP4 read back with libavformat: codec, pixel format, frame count, rate, size,
    /// and ≥ 35 dB PSNR against the raw frames at the default quality.
    func testWritesMP4() throws {
        let p = try pipeline()
        let dir = try makeTemporaryDirectory(self)
        var r = GenerationRequest(prompt: "Waves crash against the rocks.")
        r.width = 64; r.height = 48; r.frames = 9; r.steps = 2; r.seed = 7; r.fps = 12
        r.returnFrames = true
        let out = dir.appendingPathComponent("clip.mp4")
        r.outputPath = out.path
        let result = try p.generate(r)
        let info = try VideoProbe.probe(url: out)
        XCTAssertEqual(info.codecName, "h264")
        XCTAssertEqual(info.pixelFormat, "yuv420p")
        XCTAssertEqual(info.frameCount, 9)
        XCTAssertEqual(info.width, 64)
        XCTAssertEqual(info.height, 48)
        XCTAssertEqual(info.frameRate.framesPerSecond, 12, accuracy: 1e-9)
        let decoded = try VideoProbe.decodeFrames(url: out)
        guard let raw = result.video else { return XCTFail("frames were requested") }
        XCTAssertEqual(raw.shape, [9, 48, 64, 3])
        XCTAssertEqual(decoded.count, 9)
        // The random-weight model's frames are per-pixel noise, whose colour the yuv420p format
        // itself cannot hold (2×2 chroma subsampling caps RGB PSNR near 24 dB even losslessly;
        // VideoWriterTests checks RGB PSNR on natural content). Luma is stored at full
        // resolution, so the encoder's quality shows in BT.709 luma PSNR.
        var squared = 0.0, n = 0
        func luma(_ p: UnsafePointer<Float>) -> Double {
            0.2126 * Double(p[0]) + 0.7152 * Double(p[1]) + 0.0722 * Double(p[2])
        }
        for (i, frame) in decoded.enumerated() {
            let offset = i * 48 * 64 * 3
            frame.data.withPointer { fp in
                raw.data.withPointer { rp in
                    for px in 0..<(48 * 64) {
                        let d = luma(fp + px * 3) - luma(rp + offset + px * 3)
                        squared += d * d
                        n += 1
                    }
                }
            }
        }
        let psnr = 10 * log10(1 / (squared / Double(n)))
        XCTAssertGreaterThanOrEqual(psnr, 35, "luma PSNR \(psnr) dB")
    }

    func testPNGSequenceAndDurationRounding() throws {
        let p = try pipeline()
        let dir = try makeTemporaryDirectory(self)
        var r = GenerationRequest(prompt: "Snow falls gently.")
        r.width = 32; r.height = 32; r.durationSeconds = 0.3; r.fps = 10; r.steps = 1; r.seed = 1
        r.outputPath = dir.path + "/frames/"
        let result = try p.generate(r)
        // 0.3 s × 10 fps = 3 frames, which is 2k+1 for this model's temporal factor 2.
        XCTAssertEqual(result.frames, 3)
        XCTAssertTrue(result.notes.contains { $0.contains("3 frames") }, "\(result.notes)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("frames").path)
        XCTAssertEqual(files.sorted(), ["frame_00001.png", "frame_00002.png", "frame_00003.png"])
    }

    func testProgressCoversEveryPhaseInOrder() throws {
        let p = try pipeline()
        var r = GenerationRequest(prompt: "A red car drives along a coastal road.")
        r.width = 32; r.height = 32; r.frames = 3; r.steps = 3; r.guidance = 4; r.seed = 3
        r.returnFrames = true
        var seen: [GenerationProgress] = []
        _ = try p.generate(r, progress: { seen.append($0) })
        let phases = seen.map(\.phase)
        XCTAssertEqual(phases.first, .encodingText)
        XCTAssertEqual(phases.last, .finished)
        XCTAssertTrue(phases.contains(.denoising) && phases.contains(.decoding))
        XCTAssertEqual(seen.filter { $0.phase == .denoising }.map(\.step), [0, 1, 2, 3])
        XCTAssertEqual(zip(phases, phases.dropFirst()).filter { $0.0.rawValue > $0.1.rawValue }.count, 0)
        let fractions = seen.map(\.fraction)
        XCTAssertEqual(fractions, fractions.sorted())
        XCTAssertEqual(fractions.last ?? 0, 1, accuracy: 1e-12)
    }

    /// A cancel from the progress callback (denoising, then decoding) ends the job with
    /// `.cancelled` and leaves no output file.
    func testCancelLeavesNothingBehind() throws {
        let p = try pipeline()
        let dir = try makeTemporaryDirectory(self)
        for phase in [GenerationPhase.denoising, .decoding, .encodingText] {
            for name in ["x.mp4", "x.safetensors", "frames/"] {
                var r = GenerationRequest(prompt: "Two people dance in the rain.")
                r.width = 32; r.height = 32; r.frames = 5; r.steps = 3; r.seed = 5
                r.outputPath = dir.path + "/" + name
                let token = CancellationToken()
                XCTAssertThrowsError(try p.generate(r, cancel: token, progress: { if $0.phase == phase { token.cancel() } })) {
                    XCTAssertEqual(($0 as? KinemaError)?.code, .cancelled, "\(phase) \(name)")
                }
                let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
                XCTAssertEqual(left, [], "\(phase) \(name) left \(left)")
            }
        }
    }

    func testBadRequestsAreClearErrorsAndLeaveNothing() throws {
        let p = try pipeline()
        let dir = try makeTemporaryDirectory(self)
        func expect(_ code: KinemaError.Code, _ containing: String, _ edit: (inout GenerationRequest) -> Void,
                    line: UInt = #line) {
            var r = GenerationRequest(prompt: "A cat.")
            r.width = 32; r.height = 32; r.frames = 3; r.steps = 1; r.seed = 1
            r.outputPath = dir.appendingPathComponent("out.mp4").path
            edit(&r)
            XCTAssertThrowsError(try p.generate(r), line: line) { error in
                let e = error as? KinemaError
                XCTAssertEqual(e?.code, code, "\(error)", line: line)
                XCTAssertTrue(e?.message.contains(containing) == true, "\(error)", line: line)
            }
        }
        expect(.invalidArgument, "width") { $0.width = 40 }
        expect(.invalidArgument, "height") { $0.height = 0 }
        expect(.invalidArgument, "steps") { $0.steps = 0 }
        expect(.invalidArgument, "steps") { $0.steps = -3 }
        expect(.invalidArgument, "frame count") { $0.frames = 4 }
        expect(.invalidArgument, "guidance") { $0.guidance = .nan }
        expect(.invalidArgument, "either") { $0.durationSeconds = 1 }
        expect(.io, "does not exist") { $0.outputPath = dir.appendingPathComponent("missing/out.mp4").path }
        // A directory that cannot be written even as root: the parent is a regular file.
        let file = dir.appendingPathComponent("plain-file")
        XCTAssertTrue(FileManager.default.createFile(atPath: file.path, contents: Data("x".utf8)))
        expect(.io, "plain-file") { $0.outputPath = file.appendingPathComponent("out.mp4").path }
        expect(.invalidArgument, "output format") { $0.outputPath = dir.appendingPathComponent("out.avi").path }
        expect(.shapeMismatch, "initial latents") { $0.initialLatents = Tensor(zeros: [4, 3, 8, 8]) }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(left, ["plain-file"])
    }

    /// A clip of shots is each shot's own generation (prompt, seed + k, its frame count rounded
    /// up to 2k+1 for this model), cut to round(seconds × fps) frames and joined in order.
    func testShotsAreSeparateGenerationsCutOnTheirFrames() throws {
        let p = try pipeline()
        let dir = try makeTemporaryDirectory(self)
        var r = GenerationRequest(prompt: "")
        r.shots = [Shot(prompt: "A cat walks on the grass.", durationSeconds: 0.4),
                   Shot(prompt: "A dog runs along the beach.", durationSeconds: 0.3),
                   Shot(prompt: "A cat walks on the grass.", durationSeconds: 0.1)]
        r.width = 32; r.height = 32; r.fps = 10; r.steps = 2; r.guidance = 3; r.seed = 7
        r.outputPath = dir.appendingPathComponent("shots.safetensors").path
        var seen: [GenerationProgress] = []
        let result = try p.generate(r, progress: { seen.append($0) })
        XCTAssertEqual(result.frames, 8)
        XCTAssertEqual(result.seed, 7)
        XCTAssertTrue(result.notes.contains("3 shots, 8 frames; cuts at 0.4 s (frame 4), 0.7 s (frame 7)"), "\(result.notes)")
        let video = try SafeTensorsFile(url: URL(fileURLWithPath: r.outputPath ?? "")).tensor("video")
        XCTAssertEqual(video.shape, [8, 32, 32, 3])

        // Each shot alone: 5, 3 and 1 frames from seeds 7, 8, 9; the clip keeps 4, 3 and 1.
        let plane = 32 * 32 * 3
        var start = 0
        for (k, (prompt, frames, kept)) in [("A cat walks on the grass.", 5, 4), ("A dog runs along the beach.", 3, 3),
                                            ("A cat walks on the grass.", 1, 1)].enumerated() {
            var single = GenerationRequest(prompt: prompt)
            single.width = 32; single.height = 32; single.fps = 10; single.frames = frames
            single.steps = 2; single.guidance = 3; single.seed = 7 + UInt64(k); single.returnFrames = true
            let alone = try XCTUnwrap(try p.generate(single).video)
            let expected = try Tensor(shape: [kept, 32, 32, 3], data: Array(alone.data[0..<(kept * plane)]))
            let got = try Tensor(shape: [kept, 32, 32, 3],
                                 data: Array(video.data[(start * plane)..<((start + kept) * plane)]))
            assertClose(got, expected, tolerance: 1e-6, "shot \(k + 1)")
            start += kept
        }

        // Two distinct prompts and the negative one are encoded once each; the fraction only grows.
        XCTAssertEqual(seen.filter { $0.phase == .encodingText }.map(\.step), [0, 1, 2, 3])
        XCTAssertEqual(seen.filter { $0.phase == .denoising && $0.step == 2 }.count, 3)
        let fractions = seen.map(\.fraction)
        XCTAssertEqual(fractions, fractions.sorted())
        XCTAssertEqual(fractions.last ?? 0, 1, accuracy: 1e-12)
    }

    func testBadShotsAreClearErrorsAndLeaveNothing() throws {
        let p = try pipeline()
        let dir = try makeTemporaryDirectory(self)
        func expect(_ containing: String, _ edit: (inout GenerationRequest) -> Void, line: UInt = #line) {
            var r = GenerationRequest(prompt: "")
            r.shots = [Shot(prompt: "A cat.", durationSeconds: 0.3), Shot(prompt: "A dog.", durationSeconds: 0.2)]
            r.width = 32; r.height = 32; r.fps = 10; r.steps = 1; r.seed = 1
            r.outputPath = dir.appendingPathComponent("out.mp4").path
            edit(&r)
            XCTAssertThrowsError(try p.generate(r), line: line) { error in
                let e = error as? KinemaError
                XCTAssertEqual(e?.code, .invalidArgument, "\(error)", line: line)
                XCTAssertTrue(e?.message.contains(containing) == true, "\(error)", line: line)
            }
        }
        expect("each shot") { $0.prompt = "A bird." }
        expect("no frame count or duration") { $0.frames = 3 }
        expect("no frame count or duration") { $0.durationSeconds = 0.5 }
        expect("initial latents") { $0.initialLatents = Tensor(zeros: [4, 2, 4, 4]) }
        expect("shot 2: duration") { $0.shots[1].durationSeconds = 0 }
        expect("shot 1: duration") { $0.shots[0].durationSeconds = .nan }
        expect("shot 2: duration") { $0.shots[1].durationSeconds = -1 }
        expect("shorter than one frame") { $0.shots[1].durationSeconds = 0.04 }
        expect("at most 64") { $0.shots = Array(repeating: Shot(prompt: "x", durationSeconds: 0.1), count: 65) }
        expect("exceeds 1001") { $0.shots = Array(repeating: Shot(prompt: "x", durationSeconds: 30), count: 4) }
        // A cancel while the second shot denoises removes the partial file.
        var r = GenerationRequest(prompt: "")
        r.shots = [Shot(prompt: "A cat.", durationSeconds: 0.3), Shot(prompt: "A dog.", durationSeconds: 0.3)]
        r.width = 32; r.height = 32; r.fps = 10; r.steps = 2; r.seed = 1
        r.outputPath = dir.appendingPathComponent("cancelled.mp4").path
        let token = CancellationToken()
        var denoised = 0
        XCTAssertThrowsError(try p.generate(r, cancel: token, progress: {
            if $0.phase == .denoising && $0.step == 2 { denoised += 1 }
            if denoised == 1 && $0.phase == .decoding && $0.step == 3 { token.cancel() }
        })) { XCTAssertEqual(($0 as? KinemaError)?.code, .cancelled) }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    /// A beat changes the text from the first latent frame most of whose frames follow it; a
    /// beat repeating the prompt changes nothing; a shot's beats are the same as a clip's.
    func testBeatsChangeTheTextFromTheirLatentFrame() throws {
        let p = try pipeline()
        func request(_ beats: [Beat]) -> GenerationRequest {
            var r = GenerationRequest(prompt: "A cat sits on a wall.")
            r.width = 32; r.height = 32; r.fps = 8; r.frames = 9; r.steps = 2; r.guidance = 3; r.seed = 11
            r.returnFrames = true; r.beats = beats
            return r
        }
        let plain = try p.generate(request([]))
        let same = try p.generate(request([Beat(atSeconds: 0.5, prompt: "A cat sits on a wall.")]))
        let beat = try p.generate(request([Beat(atSeconds: 0.5, prompt: "A dog runs on a beach.")]))
        // 0.5 s at 8 fps is frame 4; latent frame 2 holds frames 3 and 4 (temporal factor 2), only
        // half of them from the beat on, so the text changes from latent frame 3 (frames 5 and 6).
        XCTAssertTrue(beat.notes.contains("beats start at latent frames 3 (pixel frame 5)"), "\(beat.notes)")
        let (a, b, c) = (try XCTUnwrap(plain.video), try XCTUnwrap(same.video), try XCTUnwrap(beat.video))
        assertClose(b, a, tolerance: 1e-6, "a beat to the same prompt")
        XCTAssertGreaterThan(try c.maxAbsDifference(a), 1e-3)

        var shots = GenerationRequest(prompt: "")
        shots.shots = [Shot(prompt: "A cat sits on a wall.", durationSeconds: 1.125,
                            beats: [Beat(atSeconds: 0.5, prompt: "A dog runs on a beach.")])]
        shots.width = 32; shots.height = 32; shots.fps = 8; shots.steps = 2; shots.guidance = 3; shots.seed = 11
        shots.returnFrames = true
        let shot = try p.generate(shots)
        XCTAssertEqual(shot.frames, 9)
        assertClose(try XCTUnwrap(shot.video), c, tolerance: 1e-6, "the same beat in a shot")
        XCTAssertTrue(shot.notes.contains("shot 1: beats start at latent frames 3 (pixel frame 5)"), "\(shot.notes)")
    }

    /// A lead-in generates frames before each shot (or the clip) and drops them: the kept frames
    /// are those of the longer generation after the lead-in, beats keep their times, and a
    /// lead-in out of range is a clear error. (This model's temporal factor is 2.)
    func testLeadInDropsTheFirstFramesOfEachShot() throws {
        let p = try pipeline()
        let plane = 32 * 32 * 3
        func frames(_ video: Tensor, _ range: Range<Int>) throws -> Tensor {
            try Tensor(shape: [range.count, 32, 32, 3], data: Array(video.data[(range.lowerBound * plane)..<(range.upperBound * plane)]))
        }
        func request(frames: Int, leadIn: Int?, beats: [Beat] = [], seed: UInt64 = 7) -> GenerationRequest {
            var r = GenerationRequest(prompt: "A cat sits on a wall.")
            r.width = 32; r.height = 32; r.fps = 8; r.frames = frames; r.steps = 2; r.guidance = 3; r.seed = seed
            r.returnFrames = true; r.beats = beats; r.leadInFrames = leadIn
            return r
        }
        // The clip: 5 frames after a lead-in of 2 are frames 2-6 of a 7-frame generation.
        let led = try p.generate(request(frames: 5, leadIn: 2))
        XCTAssertEqual(led.frames, 5)
        XCTAssertTrue(led.notes.contains("lead-in: 2 frames generated before each shot and dropped"), "\(led.notes)")
        let long = try XCTUnwrap(try p.generate(request(frames: 7, leadIn: nil)).video)
        assertClose(try XCTUnwrap(led.video), try frames(long, 2..<7), tolerance: 1e-6, "clip after its lead-in")
        XCTAssertEqual(try XCTUnwrap(try p.generate(request(frames: 5, leadIn: 0)).video).shape, [5, 32, 32, 3])

        // A beat at 0.5 s (kept frame 4) is frame 6 of the generation: the text changes from
        // latent frame 4 (frames 7 and 8, kept frames 5 and 6), as a beat at 0.75 s without a lead-in.
        let beat = try p.generate(request(frames: 9, leadIn: 2, beats: [Beat(atSeconds: 0.5, prompt: "A dog runs on a beach.")]))
        XCTAssertTrue(beat.notes.contains("beats start at latent frames 4 (pixel frame 5)"), "\(beat.notes)")
        let whole = try p.generate(request(frames: 11, leadIn: 0, beats: [Beat(atSeconds: 0.75, prompt: "A dog runs on a beach.")]))
        XCTAssertTrue(whole.notes.contains("beats start at latent frames 4 (pixel frame 7)"), "\(whole.notes)")
        assertClose(try XCTUnwrap(beat.video), try frames(try XCTUnwrap(whole.video), 2..<11), tolerance: 1e-6,
                    "beat after a lead-in")

        // Shots: each generated with its lead-in of 1, from seeds 7 and 8, and cut on its kept frames.
        var shots = GenerationRequest(prompt: "")
        shots.shots = [Shot(prompt: "A cat sits on a wall.", durationSeconds: 0.5),
                       Shot(prompt: "A dog runs on a beach.", durationSeconds: 0.375)]
        shots.width = 32; shots.height = 32; shots.fps = 8; shots.steps = 2; shots.guidance = 3; shots.seed = 7
        shots.returnFrames = true; shots.leadInFrames = 1
        let clip = try p.generate(shots)
        XCTAssertEqual(clip.frames, 7)
        XCTAssertTrue(clip.notes.contains("2 shots, 7 frames; cuts at 0.5 s (frame 4)"), "\(clip.notes)")
        let video = try XCTUnwrap(clip.video)
        var first = request(frames: 5, leadIn: 0)
        first.prompt = "A cat sits on a wall."
        var second = request(frames: 5, leadIn: 0, seed: 8)
        second.prompt = "A dog runs on a beach."
        assertClose(try frames(video, 0..<4), try frames(try XCTUnwrap(try p.generate(first).video), 1..<5),
                    tolerance: 1e-6, "shot 1 after its lead-in")
        assertClose(try frames(video, 4..<7), try frames(try XCTUnwrap(try p.generate(second).video), 1..<4),
                    tolerance: 1e-6, "shot 2 after its lead-in")

        for bad in [-1, Pipeline.maximumLeadInFrames + 1] {
            XCTAssertThrowsError(try p.generate(request(frames: 5, leadIn: bad))) { error in
                XCTAssertEqual((error as? KinemaError)?.code, .invalidArgument, "\(error)")
                XCTAssertTrue((error as? KinemaError)?.message.contains("lead-in must be 0 to 64 frames") == true, "\(error)")
            }
        }
    }

    func testBadBeatsAreClearErrors() throws {
        let p = try pipeline()
        func expect(_ containing: String, _ edit: (inout GenerationRequest) -> Void, line: UInt = #line) {
            var r = GenerationRequest(prompt: "A cat.")
            r.width = 32; r.height = 32; r.fps = 8; r.frames = 9; r.steps = 1; r.seed = 1
            edit(&r)
            XCTAssertThrowsError(try p.generate(r), line: line) { error in
                let e = error as? KinemaError
                XCTAssertEqual(e?.code, .invalidArgument, "\(error)", line: line)
                XCTAssertTrue(e?.message.contains(containing) == true, "\(error)", line: line)
            }
        }
        expect("after the start") { $0.beats = [Beat(atSeconds: 0, prompt: "b")] }
        expect("after the start") { $0.beats = [Beat(atSeconds: -1, prompt: "b")] }
        expect("after the start") { $0.beats = [Beat(atSeconds: .nan, prompt: "b")] }
        expect("before the end (1.125 s)") { $0.beats = [Beat(atSeconds: 1.125, prompt: "b")] }
        expect("after the beat at 0.75 s") { $0.beats = [Beat(atSeconds: 0.75, prompt: "b"), Beat(atSeconds: 0.5, prompt: "c")] }
        expect("same latent frame as the start") { $0.beats = [Beat(atSeconds: 0.05, prompt: "b")] }
        expect("same latent frame as the beat at 0.5 s") {
            $0.beats = [Beat(atSeconds: 0.5, prompt: "b"), Beat(atSeconds: 0.55, prompt: "c")]
        }
        expect("at most 64") { $0.beats = (1...65).map { Beat(atSeconds: Double($0) / 100, prompt: "b") } }
        expect("each shot its own beats") {
            $0.prompt = ""; $0.frames = nil
            $0.shots = [Shot(prompt: "a", durationSeconds: 1)]
            $0.beats = [Beat(atSeconds: 0.5, prompt: "b")]
        }
        expect("shot 2: a beat at 2 s") {
            $0.prompt = ""; $0.frames = nil
            $0.shots = [Shot(prompt: "a", durationSeconds: 1), Shot(prompt: "b", durationSeconds: 1, beats: [Beat(atSeconds: 2, prompt: "c")])]
        }
    }

    func testBadModelDirectories() throws {
        let dir = try makeTemporaryDirectory(self)
        XCTAssertThrowsError(try Pipeline(modelDirectory: dir.appendingPathComponent("nope"))) {
            XCTAssertTrue(($0 as? KinemaError)?.message.contains("nope") == true, "\($0)")
        }
        let copy = dir.appendingPathComponent("model")
        try FileManager.default.copyItem(at: PipelineTests.modelURL, to: copy)
        try FileManager.default.removeItem(at: copy.appendingPathComponent("vae"))
        XCTAssertThrowsError(try Pipeline(modelDirectory: copy)) {
            XCTAssertEqual(($0 as? KinemaError)?.code, .missingComponent, "\($0)")
        }
        let copy2 = dir.appendingPathComponent("model2")
        try FileManager.default.copyItem(at: PipelineTests.modelURL, to: copy2)
        let weights = copy2.appendingPathComponent("transformer/diffusion_pytorch_model.safetensors")
        let data = try Data(contentsOf: weights)
        try data.prefix(data.count / 2).write(to: weights)
        XCTAssertThrowsError(try Pipeline(modelDirectory: copy2)) {
            XCTAssertEqual(($0 as? KinemaError)?.code, .corruptFile, "\($0)")
            XCTAssertTrue(($0 as? KinemaError)?.message.contains("diffusion_pytorch_model") == true, "\($0)")
        }
        // kinema.json's lead-in becomes the default, within range.
        let copy3 = dir.appendingPathComponent("model3")
        try FileManager.default.copyItem(at: PipelineTests.modelURL, to: copy3)
        let settings = copy3.appendingPathComponent("kinema.json")
        try Data(#"{"lead_in_frames": 3}"#.utf8).write(to: settings)
        XCTAssertEqual(try Pipeline(modelDirectory: copy3).defaults.leadInFrames, 3)
        try Data(#"{"lead_in_frames": 65}"#.utf8).write(to: settings)
        XCTAssertThrowsError(try Pipeline(modelDirectory: copy3)) {
            XCTAssertEqual(($0 as? KinemaError)?.code, .invalidArgument, "\($0)")
            XCTAssertTrue(($0 as? KinemaError)?.message.contains("lead_in_frames = 65") == true, "\($0)")
        }
    }

    func testFrameCountRounding() {
        XCTAssertEqual(Pipeline.validFrameCount(near: 80), 81)
        XCTAssertEqual(Pipeline.validFrameCount(near: 83.2), 85)
        XCTAssertEqual(Pipeline.validFrameCount(near: 0.2), 1)
        XCTAssertEqual(Pipeline.validFrameCount(near: 4, temporal: 2), 5)
    }
}
