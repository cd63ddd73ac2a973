// Text-to-video pipeline: tokenizer → UMT5 → Wan DiT + flow sampler → Wan VAE → video file.
// Follows diffusers' pipelines/wan/pipeline_wan.py (WanPipeline.__call__).

import Foundation

/// Options fixed when a model is loaded.
public struct PipelineOptions: Sendable {
    /// Worker threads for kernels and OpenBLAS (process-wide); nil keeps the current setting.
    public var threads: Int?
    /// Keep 16-bit checkpoints in 16-bit memory and widen per use (true), or widen at load.
    public var keepStoredPrecision: Bool = true
    /// Memory the VAE decoder may use per frame before it switches to spatial tiles.
    public var vaeMemoryBudgetBytes: Int = WanVAEDecoder.defaultMemoryBudgetBytes
    /// Receives human-readable log lines (loading, notes); called on the calling thread.
    public var log: (@Sendable (String) -> Void)?

    public init() {}
}

/// A loaded Wan2.1 text-to-video model. Immutable after loading: one instance may serve
/// several generations on several threads at once.
public final class Pipeline: GenerationEngine, @unchecked Sendable {
    public let directory: ModelDirectory
    public let defaults: GenerationDefaults
    let tokenizer: Tokenizer
    let textEncoder: UMT5Encoder
    let transformer: WanTransformer
    let vae: WanVAEDecoder
    let vaeConfig: WanVAEConfig
    /// The VAE's encoder, loaded on the first request with an image.
    private var vaeEncoderStorage: WanVAEEncoder?
    private let vaeEncoderLock = NSLock()
    let samplerTemplate: SamplerSettings
    let options: PipelineOptions
    /// Rows of text context the DiT sees (Wan: 512; zero-padded after the prompt's tokens).
    public let textLength: Int

    /// Wan's default negative prompt (`shared_config.sample_neg_prompt`).
    public static let wanNegativePrompt =
        "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"

    /// Loads a diffusers-layout directory (`model_index.json`, `transformer/`, `vae/`,
    /// `text_encoder/`, `tokenizer/`, `scheduler/`). Every component is checked strictly.
    public init(modelDirectory url: URL, options: PipelineOptions = PipelineOptions()) throws {
        try Compute.requireSupportedCPU()
        if let threads = options.threads {
            guard threads > 0 else { throw KinemaError.invalidArgument("threads must be positive, got \(threads)") }
            Compute.setThreadCount(threads)
        }
        let dir = try ModelDirectory(url: url)
        self.directory = dir
        self.options = options
        options.log?("loading tokenizer from \(dir.tokenizerURL.path)")
        tokenizer = try Tokenizer(url: dir.tokenizerURL)
        options.log?("loading text encoder")
        textEncoder = try UMT5Encoder(weights: UMT5Weights(config: dir.textEncoderConfig,
                                                            source: dir.weights(for: .textEncoder)))
        options.log?("loading transformer")
        transformer = try WanTransformer(config: dir.transformerConfig, weights: dir.weights(for: .transformer),
                                         keepStoredPrecision: options.keepStoredPrecision)
        options.log?("loading VAE")
        vaeConfig = dir.vaeConfig
        vae = try WanVAEDecoder(config: dir.vaeConfig, weights: dir.weights(for: .vae))
        samplerTemplate = try SamplerSettings(config: dir.schedulerConfig)
        textLength = 512

        let recommended = try RecommendedSettings.load(from: url)
        defaults = GenerationDefaults(
            width: recommended?.width ?? 832, height: recommended?.height ?? 480,
            frames: recommended?.frames ?? 81, fps: recommended?.fps ?? 16,
            steps: recommended?.steps ?? 50, guidance: recommended?.guidance ?? 5,
            flowShift: recommended?.flowShift ?? Float(samplerTemplate.shift),
            sampler: recommended?.sampler ?? samplerTemplate.kind,
            negativePrompt: recommended?.negativePrompt ?? Pipeline.wanNegativePrompt,
            leadInFrames: recommended?.leadInFrames ?? 0)
    }

    // MARK: - Generation

    public func generate(_ request: GenerationRequest, cancel: CancellationToken? = nil,
                         progress: ((GenerationProgress) -> Void)? = nil) throws -> GenerationResult {
        let clock = ProgressClock(report: progress)
        let plan = try resolve(request)
        var notes = plan.notes
        // The image is read first, so that a bad one fails before any work.
        let imagePixels = try request.image.map { try $0.rgb(width: plan.width, height: plan.height) }
        if let note = imagePixels?.note { notes.append(note) }
        let output = try OutputTarget.prepare(request: request, plan: plan)
        var timings = GenerationTimings()

        // 1. Text: every distinct prompt once, then the negative prompt.
        var phaseStart = clock.now
        var prompts: [String] = []
        for shot in plan.shots {
            for (_, prompt) in shot.schedule where !prompts.contains(prompt) { prompts.append(prompt) }
        }
        let textSteps = prompts.count + (plan.guidance > 1 ? 1 : 0)
        clock.report(.encodingText, step: 0, of: textSteps)
        var contexts: [String: WanTransformer.PreparedContext] = [:]
        for (i, prompt) in prompts.enumerated() {
            contexts[prompt] = try encodePrompt(prompt, cancel: cancel)
            clock.report(.encodingText, step: i + 1, of: textSteps)
        }
        var uncond: WanTransformer.PreparedContext?
        if plan.guidance > 1 {
            uncond = try encodePrompt(plan.negativePrompt, cancel: cancel)
            clock.report(.encodingText, step: textSteps, of: textSteps)
        }
        timings.textEncoding = clock.now - phaseStart

        // 1b. The image, as the first shot's first latent frame.
        var leading: Tensor?
        if let pixels = imagePixels?.pixels {
            phaseStart = clock.now
            clock.report(.encodingImage, step: 0, of: 1)
            leading = try vaeEncoder().encode(video: ImageInput.videoTensor(pixels, width: plan.width, height: plan.height),
                                              cancel: cancel)
            clock.report(.encodingImage, step: 1, of: 1)
            timings.imageEncoding = clock.now - phaseStart
        }

        var settings = samplerTemplate
        settings.kind = plan.sampler
        settings.shift = Double(plan.flowShift)
        let sink = try output.makeSink(width: plan.width, height: plan.height, fps: plan.fps,
                                       crf: request.crf, keepFrames: request.returnFrames)
        var written = 0
        do {
            for (index, shot) in plan.shots.enumerated() {
                clock.shot = (index, plan.shots.count)
                var cond: [(firstFrame: Int, context: WanTransformer.PreparedContext)] = []
                for (frame, prompt) in shot.schedule {
                    guard let context = contexts[prompt] else {
                        throw KinemaError.invalidArgument("shot \(index + 1): its prompt was not encoded")
                    }
                    cond.append((frame, context))
                }
                // 2. Denoising.
                phaseStart = clock.now
                let initial = try plan.initialLatent(for: shot, zDim: vaeConfig.zDim)
                clock.report(.denoising, step: 0, of: plan.steps)
                let latent = try Sampler.sample(
                    initial: initial, transformer: transformer, conditional: cond, unconditional: uncond,
                    settings: settings, steps: plan.steps, guidance: plan.guidance,
                    leading: index == 0 ? leading : nil, cancel: cancel,
                    progress: { clock.report(.denoising, step: $0.step, of: $0.totalSteps) })
                timings.denoising += clock.now - phaseStart

                // 3. Decoding, streamed into the writer; a shot keeps `frames` frames after its
                // `leadIn` first ones.
                phaseStart = clock.now
                var decoded = 0, kept = 0
                clock.report(.decoding, step: 0, of: shot.generatedFrames)
                try vae.decode(latent: latent, memoryBudgetBytes: options.vaeMemoryBudgetBytes, cancel: cancel) { chunk in
                    let added = try sink.append(chunk, skipping: max(0, shot.leadIn - decoded),
                                                atMost: shot.frames - kept)
                    kept += added
                    written += added
                    decoded += chunk.shape[1]
                    clock.report(.decoding, step: decoded, of: shot.generatedFrames)
                }
                timings.decoding += clock.now - phaseStart
            }
            clock.shot = (0, 1)
            phaseStart = clock.now
            try cancel?.check()
            clock.report(.writingVideo, step: 0, of: 1)
            let finished = try sink.finish()
            notes.append(contentsOf: finished.notes)
            timings.writing = clock.now - phaseStart
            clock.report(.writingVideo, step: 1, of: 1)
            timings.total = clock.now
            clock.report(.finished, step: 1, of: 1)
            return GenerationResult(
                outputPath: output.path, outputFormat: output.format,
                width: plan.width, height: plan.height, frames: written, fps: plan.fps,
                steps: plan.steps, guidance: plan.guidance, flowShift: plan.flowShift, sampler: plan.sampler,
                seed: plan.seed, timings: timings, notes: notes, video: finished.frames)
        } catch {
            sink.cancel()
            throw error
        }
    }

    /// The VAE's encoder, loaded from the model directory on first use (text-to-video never
    /// needs it) and kept.
    func vaeEncoder() throws -> WanVAEEncoder {
        vaeEncoderLock.lock()
        defer { vaeEncoderLock.unlock() }
        if let encoder = vaeEncoderStorage { return encoder }
        options.log?("loading VAE encoder")
        let encoder = try WanVAEEncoder(config: vaeConfig, weights: directory.weights(for: .vae))
        vaeEncoderStorage = encoder
        return encoder
    }

    /// Cleans, tokenises and encodes one prompt into a prepared DiT context.
    func encodePrompt(_ text: String, cancel: CancellationToken?) throws -> WanTransformer.PreparedContext {
        let ids = try tokenizer.encode(PromptCleaner.clean(text), addSpecialTokens: true, maxLength: textLength)
        let context = try textEncoder.encodeForDiT(ids: ids, textLength: textLength, cancel: cancel)
        return try transformer.prepareContext(context)
    }

    // MARK: - Request resolution

    /// One shot as generated: `generatedFrames` (temporal·k+1) are sampled and decoded, the
    /// first `frames` of them go into the clip.
    struct ShotPlan {
        var frames: Int
        var generatedFrames: Int
        /// Frames generated before the kept ones and dropped (`GenerationRequest.leadInFrames`).
        var leadIn: Int = 0
        var seed: UInt64
        /// The prompt of each span of latent frames, (first latent frame, prompt), from frame 0.
        var schedule: [(Int, String)]
    }

    /// A request with every default filled in and every value validated.
    struct Plan {
        /// Frames of the whole clip (the sum of the shots' kept frames).
        var width: Int, height: Int, frames: Int, fps: Double
        var steps: Int, guidance: Float, flowShift: Float, sampler: SamplerKind
        var seed: UInt64
        var negativePrompt: String
        var initialLatents: Tensor?
        var shots: [ShotPlan]
        var notes: [String]
        /// VAE compression: pixel frames per latent frame and pixels per latent pixel.
        var temporal: Int, spatial: Int

        func initialLatent(for shot: ShotPlan, zDim: Int) throws -> Tensor {
            let latentFrames = (shot.generatedFrames - 1) / temporal + 1
            let shape = [zDim, latentFrames, height / spatial, width / spatial]
            if var given = initialLatents {
                if given.rank == 5 && given.shape[0] == 1 { try given.reshape(Array(given.shape.dropFirst())) }
                guard given.shape == shape else {
                    throw KinemaError.shape("initial latents have shape \(given.shape), expected \(shape) "
                                            + "(or [1, \(shape.map(String.init).joined(separator: ", "))])")
                }
                guard given.data.allSatisfy(\.isFinite) else {
                    throw KinemaError.invalidArgument("initial latents contain NaN or infinite values")
                }
                return given
            }
            return GaussianNoise.tensor(shape: shape, seed: shot.seed)
        }
    }

    func resolve(_ r: GenerationRequest) throws -> Plan {
        var notes: [String] = []
        let width = r.width ?? defaults.width, height = r.height ?? defaults.height
        let temporal = vaeConfig.temporalCompression, spatial = vaeConfig.spatialCompression
        // Wan2.1: 8 pixels per latent pixel × 2 latent pixels per patch = multiples of 16.
        let multiple = max(16, spatial * transformer.dimensions.patchSize[1])
        for (name, v) in [("width", width), ("height", height)] {
            guard v > 0, v % multiple == 0 else {
                throw KinemaError.invalidArgument("\(name) must be a positive multiple of \(multiple), got \(v)")
            }
            guard v <= 4096 else { throw KinemaError.invalidArgument("\(name) \(v) exceeds the maximum of 4096") }
        }
        let fps = r.fps ?? defaults.fps
        guard fps.isFinite, fps > 0, fps <= 240 else {
            throw KinemaError.invalidArgument("fps must be in (0, 240], got \(fps)")
        }
        let seed = r.seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        var leadIn = r.leadInFrames ?? defaults.leadInFrames
        guard (0...Pipeline.maximumLeadInFrames).contains(leadIn) else {
            throw KinemaError.invalidArgument("lead-in must be 0 to \(Pipeline.maximumLeadInFrames) frames, got \(leadIn)")
        }
        if r.initialLatents != nil { leadIn = 0 }
        if leadIn > 0 {
            notes.append("lead-in: \(leadIn) frames generated before each shot and dropped"
                         + (r.image != nil ? " (not before the image's shot)" : ""))
        }
        var frames: Int
        var shots: [ShotPlan]
        if !r.shots.isEmpty {
            shots = try Pipeline.planShots(r, fps: fps, temporal: temporal, seed: seed, leadIn: leadIn,
                                           notes: &notes)
            frames = shots.reduce(0) { $0 + $1.frames }
        } else {
            if let duration = r.durationSeconds {
                guard r.frames == nil else {
                    throw KinemaError.invalidArgument("give either a frame count or a duration, not both")
                }
                guard duration.isFinite, duration > 0, duration <= 600 else {
                    throw KinemaError.invalidArgument("duration must be in (0, 600] seconds, got \(duration)")
                }
                frames = Pipeline.validFrameCount(near: duration * fps, temporal: temporal)
                notes.append(String(format: "%.3g s at %.4g fps → %d frames (%.3g s; frame counts are %dk+1)",
                                    duration, fps, frames, Double(frames) / fps, temporal))
            } else {
                frames = r.frames ?? defaults.frames
                guard frames >= 1, (frames - 1) % temporal == 0 else {
                    throw KinemaError.invalidArgument(
                        "frame count must be \(temporal)k+1 (1, \(1 + temporal), \(1 + 2 * temporal), …), got \(frames)")
                }
            }
            let lead = r.image != nil ? 0 : leadIn
            let generated = Pipeline.framesCovering(frames + lead, temporal: temporal)
            let schedule = try Pipeline.planBeats(r.beats, prompt: r.prompt, seconds: Double(frames) / fps,
                                                  fps: fps, temporal: temporal, generatedFrames: generated,
                                                  leadIn: lead, shot: nil, notes: &notes)
            shots = [ShotPlan(frames: frames, generatedFrames: generated, leadIn: lead, seed: seed, schedule: schedule)]
        }
        guard frames <= 1001 else { throw KinemaError.invalidArgument("frame count \(frames) exceeds 1001") }
        if r.image != nil, let first = shots.first, first.generatedFrames < temporal + 1 {
            throw KinemaError.invalidArgument(
                "an image becomes the first frame, so the clip (or its first shot) needs at least \(temporal + 1) frames, got \(first.generatedFrames)")
        }
        let steps = r.steps ?? defaults.steps
        guard steps >= 1, steps <= 1000 else {
            throw KinemaError.invalidArgument("steps must be in 1…1000, got \(steps)")
        }
        let guidance = r.guidance ?? defaults.guidance
        guard guidance.isFinite, guidance >= 0, guidance <= 100 else {
            throw KinemaError.invalidArgument("guidance must be in [0, 100], got \(guidance)")
        }
        let shift = r.flowShift ?? defaults.flowShift
        guard shift.isFinite, shift > 0, shift <= 1000 else {
            throw KinemaError.invalidArgument("flow shift must be in (0, 1000], got \(shift)")
        }
        return Plan(width: width, height: height, frames: frames, fps: fps, steps: steps, guidance: guidance,
                    flowShift: shift, sampler: r.sampler ?? defaults.sampler, seed: seed,
                    negativePrompt: r.negativePrompt ?? defaults.negativePrompt,
                    initialLatents: r.initialLatents, shots: shots, notes: notes,
                    temporal: temporal, spatial: spatial)
    }

    /// Most shots in one request.
    public static let maximumShots = 64
    /// Most beats in one shot.
    public static let maximumBeats = 64
    /// Most lead-in frames.
    public static let maximumLeadInFrames = 64

    /// The smallest frame count of the form temporal·k+1 that holds `frames` frames.
    static func framesCovering(_ frames: Int, temporal: Int) -> Int {
        (frames - 1 + temporal - 1) / temporal * temporal + 1
    }

    /// The prompt of each span of latent frames of one shot: `prompt` from frame 0, then each
    /// beat's from the first latent frame more than half of whose pixel frames come at or after
    /// it (latent frame j ≥ 1 holds pixel frames temporal·(j−1)+1 … temporal·j of the
    /// generation, which are kept frames from j's first minus `leadIn`).
    static func planBeats(_ beats: [Beat], prompt: String, seconds: Double, fps: Double, temporal: Int,
                          generatedFrames: Int, leadIn: Int = 0, shot: Int?,
                          notes: inout [String]) throws -> [(Int, String)] {
        let whose = shot.map { "shot \($0): " } ?? ""
        guard beats.count <= maximumBeats else {
            throw KinemaError.invalidArgument("\(whose)\(beats.count) beats; at most \(maximumBeats) are allowed")
        }
        var schedule: [(Int, String)] = [(0, prompt)]
        var previous = 0.0
        let latentFrames = (generatedFrames - 1) / temporal + 1
        func g(_ x: Double) -> String { String(format: "%g", x) }
        for beat in beats {
            let t = beat.atSeconds
            let after = previous == 0 ? "the start" : "the beat at \(g(previous)) s"
            guard t.isFinite, t > previous, t < seconds else {
                throw KinemaError.invalidArgument(
                    "\(whose)a beat at \(g(t)) s must come after \(after) and before the end (\(g(seconds)) s)")
            }
            let frame = Int((t * fps).rounded()) + leadIn
            // Latent frame j ≥ 1 holds pixel frames temporal·(j−1)+1 … temporal·j; the first one
            // more than half of whose frames are at or after `frame`.
            let latent = frame == 0 ? 0 : Int((Double(frame - 1) / Double(temporal) + 1).rounded())
            guard let last = schedule.last, latent > last.0, latent < latentFrames else {
                throw KinemaError.invalidArgument(
                    "\(whose)the beat at \(g(t)) s falls on the same latent frame as \(after); the prompt can change "
                        + "every \(temporal) frames (\(g(Double(temporal) / fps)) s at \(g(fps)) fps)")
            }
            schedule.append((latent, beat.prompt))
            previous = t
        }
        if schedule.count > 1 {
            let spans = schedule.dropFirst().map { "\($0.0) (pixel frame \(temporal * ($0.0 - 1) + 1 - leadIn))" }
            notes.append("\(whose)beats start at latent frames " + spans.joined(separator: ", "))
        }
        return schedule
    }

    /// Checks a multi-shot request and lays its shots out on the frame grid: shot k keeps
    /// round(duration·fps) frames, generated as the nearest temporal·k+1 count at or above that.
    static func planShots(_ r: GenerationRequest, fps: Double, temporal: Int, seed: UInt64, leadIn: Int = 0,
                          notes: inout [String]) throws -> [ShotPlan] {
        guard r.prompt.isEmpty else {
            throw KinemaError.invalidArgument("give the prompt in each shot, not also for the whole clip")
        }
        guard r.frames == nil, r.durationSeconds == nil else {
            throw KinemaError.invalidArgument("a clip of shots is as long as its shots; give no frame count or duration")
        }
        guard r.initialLatents == nil else {
            throw KinemaError.invalidArgument("initial latents describe one shot; they cannot be used with shots")
        }
        guard r.beats.isEmpty else {
            throw KinemaError.invalidArgument("with shots, give each shot its own beats")
        }
        guard r.shots.count <= maximumShots else {
            throw KinemaError.invalidArgument("\(r.shots.count) shots; at most \(maximumShots) are allowed")
        }
        var plans: [ShotPlan] = []
        var cuts: [String] = []
        var start = 0
        for (k, shot) in r.shots.enumerated() {
            let d = shot.durationSeconds
            guard d.isFinite, d > 0, d <= 600 else {
                throw KinemaError.invalidArgument("shot \(k + 1): duration must be in (0, 600] seconds, got \(d)")
            }
            let frames = Int((d * fps).rounded())
            guard frames >= 1 else {
                throw KinemaError.invalidArgument(
                    String(format: "shot %d: %.3g s is shorter than one frame at %.4g fps", k + 1, d, fps))
            }
            // The image's shot starts from the image: no lead-in there.
            let lead = k == 0 && r.image != nil ? 0 : leadIn
            let generated = framesCovering(frames + lead, temporal: temporal)
            let schedule = try planBeats(shot.beats, prompt: shot.prompt, seconds: d, fps: fps, temporal: temporal,
                                         generatedFrames: generated, leadIn: lead, shot: k + 1, notes: &notes)
            plans.append(ShotPlan(frames: frames, generatedFrames: generated, leadIn: lead, seed: seed &+ UInt64(k),
                                  schedule: schedule))
            if k > 0 { cuts.append(String(format: "%.4g s (frame %d)", Double(start) / fps, start)) }
            start += frames
        }
        notes.append(plans.count == 1 ? "1 shot of \(start) frames"
                     : "\(plans.count) shots, \(start) frames; cuts at " + cuts.joined(separator: ", "))
        return plans
    }

    /// The frame count of the form temporal·k+1 (4k+1 for Wan2.1) nearest to `frames`, at least 1.
    public static func validFrameCount(near frames: Double, temporal: Int = 4) -> Int {
        let t = Double(max(temporal, 1))
        let k = max(0, ((frames - 1) / t).rounded())
        return Int(min(k, 1000 / t)) * Int(t) + 1
    }
}

// MARK: - Progress

/// Turns phase/step reports into `GenerationProgress` with an overall fraction and an ETA.
final class ProgressClock {
    let start = DispatchTime.now().uptimeNanoseconds
    let callback: ((GenerationProgress) -> Void)?
    /// The shot being denoised and decoded, and how many there are: each shot takes an equal
    /// share of the denoising and decoding part of the fraction.
    var shot: (index: Int, count: Int) = (0, 1)
    /// Share of the total time each phase is expected to take (denoising dominates).
    static let weights: [GenerationPhase: (start: Double, span: Double)] = [
        .queued: (0, 0), .encodingText: (0, 0.03), .encodingImage: (0.03, 0), .denoising: (0.03, 0.85),
        .decoding: (0.88, 0.10), .writingVideo: (0.98, 0.02), .finished: (1, 0),
    ]

    init(report: ((GenerationProgress) -> Void)?) { callback = report }

    var now: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    func report(_ phase: GenerationPhase, step: Int, of total: Int) {
        guard let callback else { return }
        let w = ProgressClock.weights[phase] ?? (0, 0)
        let within = total > 0 ? Double(min(step, total)) / Double(total) : 1
        var fraction = min(1, w.start + w.span * within)
        if (phase == .denoising || phase == .decoding) && shot.count > 1 {
            // [0.03, 0.98] is denoising + decoding; shot k takes its k-th slice of it.
            let lo = 0.03, span = 0.95
            fraction = lo + span * (Double(shot.index) + (fraction - lo) / span) / Double(shot.count)
        }
        let elapsed = now
        let eta: Double? = fraction > 0.05 && phase != .finished ? elapsed * (1 - fraction) / fraction
            : (phase == .finished ? 0 : nil)
        callback(GenerationProgress(phase: phase, step: step, totalSteps: total, fraction: fraction,
                                    elapsedSeconds: elapsed, etaSeconds: eta))
    }
}

// MARK: - Noise

/// Deterministic standard-normal noise: SplitMix64 uniforms through Box–Muller. The same seed
/// gives the same tensor on every machine and thread count.
public enum GaussianNoise {
    public static func tensor(shape: [Int], seed: UInt64) -> Tensor {
        var out = Tensor(zeros: shape)
        var state = seed
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }  // (0, 1)
        var i = 0
        let n = out.count
        while i < n {
            let r = (-2 * Foundation.log(uniform())).squareRoot(), theta = 2 * Double.pi * uniform()
            out.data[i] = Float(r * Foundation.cos(theta))
            if i + 1 < n { out.data[i + 1] = Float(r * Foundation.sin(theta)) }
            i += 2
        }
        return out
    }
}
