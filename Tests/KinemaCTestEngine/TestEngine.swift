import Foundation
import Kinema
import KinemaC

// A small deterministic GenerationEngine for testing the C interface: it honours the whole
// GenerationEngine contract (defaults, validation, progress through every phase, cancellation
// polled per "block", seeds, initial latents, atomic .safetensors output, frames in memory)
// at a cost the tests control, without model weights. Test code only: it is linked into
// libkinema-testengine.so, never into libkinema.so.

/// Registers the loader (called from the library constructor in CKinemaTestEngineInit).
@_cdecl("ktestengine_register")
public func ktestengine_register() {
    ModelLoader.register { url, _ in
        let config = url.appendingPathComponent(TestEngine.configName)
        guard FileManager.default.fileExists(atPath: config.path) else { return nil }
        return try TestEngine(configURL: config)
    }
}

/// Settings read from `kinema-test-engine.json` in a model directory.
struct TestEngineConfig: Decodable {
    var width = 32
    var height = 32
    var frames = 5
    var fps = 8.0
    var steps = 4
    var guidance: Float = 5
    var flowShift: Float = 3
    var blocksPerStep = 4
    /// Time one "transformer block" takes.
    var blockSeconds = 0.002
    var negativePrompt = "blurry, static"

    enum CodingKeys: String, CodingKey {
        case width, height, frames, fps, steps, guidance
        case flowShift = "flow_shift"
        case blocksPerStep = "blocks_per_step"
        case blockSeconds = "block_seconds"
        case negativePrompt = "negative_prompt"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        width = try c.decodeIfPresent(Int.self, forKey: .width) ?? width
        height = try c.decodeIfPresent(Int.self, forKey: .height) ?? height
        frames = try c.decodeIfPresent(Int.self, forKey: .frames) ?? frames
        fps = try c.decodeIfPresent(Double.self, forKey: .fps) ?? fps
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? steps
        guidance = try c.decodeIfPresent(Float.self, forKey: .guidance) ?? guidance
        flowShift = try c.decodeIfPresent(Float.self, forKey: .flowShift) ?? flowShift
        blocksPerStep = try c.decodeIfPresent(Int.self, forKey: .blocksPerStep) ?? blocksPerStep
        blockSeconds = try c.decodeIfPresent(Double.self, forKey: .blockSeconds) ?? blockSeconds
        negativePrompt = try c.decodeIfPresent(String.self, forKey: .negativePrompt) ?? negativePrompt
    }
}

final class TestEngine: GenerationEngine, @unchecked Sendable {
    static let configName = "kinema-test-engine.json"

    let config: TestEngineConfig
    let defaults: GenerationDefaults

    init(configURL: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: configURL)
        } catch {
            throw KinemaError.io("\(configURL.path): \(error.localizedDescription)")
        }
        do {
            config = try JSONDecoder().decode(TestEngineConfig.self, from: data)
        } catch {
            throw KinemaError.corrupt("\(configURL.path): \(error)")
        }
        defaults = GenerationDefaults(width: config.width, height: config.height, frames: config.frames,
                                      fps: config.fps, steps: config.steps, guidance: config.guidance,
                                      flowShift: config.flowShift, sampler: .unipc,
                                      negativePrompt: config.negativePrompt)
    }

    func generate(_ request: GenerationRequest, cancel: CancellationToken?,
                  progress: ((GenerationProgress) -> Void)?) throws -> GenerationResult {
        let start = Date()
        var notes: [String] = []
        let width = request.width ?? defaults.width
        let height = request.height ?? defaults.height
        guard width % 16 == 0, height % 16 == 0 else {
            throw KinemaError.invalidArgument("width and height must be multiples of 16; got \(width)x\(height)")
        }
        let fps = request.fps ?? defaults.fps
        var frames = request.frames ?? defaults.frames
        if let duration = request.durationSeconds {
            let wanted = max(1, Int((duration * fps).rounded()))
            frames = ((wanted - 1 + 2) / 4) * 4 + 1
            notes.append("\(duration) s at \(fps) fps rounded to \(frames) frames (4k+1)")
        }
        guard frames % 4 == 1 else {
            throw KinemaError.invalidArgument("frames must be 4k+1; got \(frames)")
        }
        let steps = request.steps ?? defaults.steps
        let seed = request.seed ?? UInt64.random(in: 0..<UInt64.max)
        let latentFrames = (frames - 1) / 4 + 1
        var latentSum: Float = 0
        if let latents = request.initialLatents {
            let expected = [16, latentFrames, height / 8, width / 8]
            guard latents.shape == expected || latents.shape == [1] + expected else {
                throw KinemaError.shape("initial latents have shape \(latents.shape); expected \(expected)")
            }
            latentSum = latents.data.reduce(0, +)
        }
        let format = request.outputFormat

        var phaseStart = Date()
        var timings = GenerationTimings()
        func report(_ phase: GenerationPhase, _ step: Int, _ total: Int, _ fraction: Double) {
            let elapsed = Date().timeIntervalSince(start)
            let eta = fraction > 0 ? elapsed / fraction - elapsed : nil
            progress?(GenerationProgress(phase: phase, step: step, totalSteps: total, fraction: fraction,
                                         elapsedSeconds: elapsed, etaSeconds: eta))
        }

        // Text encoding: two "layers".
        for layer in 1...2 {
            try cancel?.check()
            report(.encodingText, layer, 2, 0.05 * Double(layer) / 2)
        }
        timings.textEncoding = Date().timeIntervalSince(phaseStart)
        phaseStart = Date()

        // Denoising: the state evolves deterministically from the seed, prompt and latents.
        var state = TestEngine.hash(seed, request.prompt, request.negativePrompt ?? defaults.negativePrompt,
                                    latentSum.bitPattern, UInt64(width), UInt64(height), UInt64(frames))
        for step in 1...max(steps, 1) {
            for _ in 0..<config.blocksPerStep {
                try cancel?.check()
                if config.blockSeconds > 0 { Thread.sleep(forTimeInterval: config.blockSeconds) }
                state = TestEngine.mix(state &+ UInt64(step))
            }
            report(.denoising, step, steps, 0.05 + 0.8 * Double(step) / Double(steps))
        }
        timings.denoising = Date().timeIntervalSince(phaseStart)
        phaseStart = Date()

        // Decoding: one frame at a time.
        let frameSize = height * width * 3
        var video = [Float](repeating: 0, count: frames * frameSize)
        for frame in 0..<frames {
            try cancel?.check()
            var s = TestEngine.mix(state ^ UInt64(frame))
            for i in 0..<frameSize {
                s = TestEngine.mix(s)
                video[frame * frameSize + i] = Float(s >> 40) / Float(1 << 24)
            }
            report(.decoding, frame + 1, frames, 0.85 + 0.1 * Double(frame + 1) / Double(frames))
        }
        timings.decoding = Date().timeIntervalSince(phaseStart)
        phaseStart = Date()

        let tensor = try Tensor(shape: [frames, height, width, 3], data: video)
        if let path = request.outputPath {
            let url = URL(fileURLWithPath: path)
            try cancel?.check()
            report(.writingVideo, 0, frames, 0.95)
            switch format ?? .safetensors {
            case .safetensors:
                try SafeTensorsWriter.write([(name: "video", tensor: tensor)], to: url)
            case .pngSequence:
                let images = try (0..<frames).map { frame in
                    try Tensor(shape: [height, width, 3],
                               data: Array(video[(frame * frameSize)..<((frame + 1) * frameSize)]))
                }
                try PNGSequenceWriter.write(frames: images, to: url)
            case .mp4:
                var options = VideoEncodingOptions(frameRate: try FrameRate(framesPerSecond: fps))
                if let crf = request.crf { options.crf = Double(crf) }
                let writer = try MP4Writer(url: url, width: width, height: height, options: options)
                for frame in 0..<frames {
                    try cancel?.check()
                    try video.withUnsafeBufferPointer { all in
                        try writer.append(frame: UnsafeBufferPointer(rebasing: all[(frame * frameSize)..<((frame + 1) * frameSize)]))
                    }
                    report(.writingVideo, frame + 1, frames, 0.95 + 0.05 * Double(frame + 1) / Double(frames))
                }
                let written = try writer.finish()
                if let reason = written.fallbackReason { notes.append(reason) }
            }
            report(.writingVideo, frames, frames, 1)
        }
        timings.writing = Date().timeIntervalSince(phaseStart)
        timings.total = Date().timeIntervalSince(start)

        return GenerationResult(
            outputPath: request.outputPath, outputFormat: request.outputPath == nil ? nil : format,
            width: width, height: height, frames: frames, fps: fps, steps: steps,
            guidance: request.guidance ?? defaults.guidance, flowShift: request.flowShift ?? defaults.flowShift,
            sampler: request.sampler ?? defaults.sampler, seed: seed, timings: timings, notes: notes,
            video: request.returnFrames ? tensor : nil)
    }

    /// SplitMix64's finaliser.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    static func hash(_ seed: UInt64, _ prompt: String, _ negative: String, _ latents: UInt32,
                     _ values: UInt64...) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325 ^ seed
        for byte in prompt.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        h = mix(h)
        for byte in negative.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        h = mix(h ^ UInt64(latents))
        for v in values { h = mix(h ^ v) }
        return h
    }
}
