import Foundation

/// Which flow-matching sampler runs the denoising loop.
public enum SamplerKind: String, Sendable, CaseIterable {
    /// diffusers' UniPCMultistepScheduler (flow prediction, bh2, order 2): Wan's default.
    case unipc
    /// diffusers' FlowMatchEulerDiscreteScheduler.
    case euler
}

/// Where and how a generation writes its video.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// H.264 (yuv420p) MP4 through libavcodec/libavformat.
    case mp4
    /// A directory of numbered PNG frames.
    case pngSequence = "png"
    /// A `.safetensors` file with a float32 tensor `video` [frames, height, width, 3] in [0, 1].
    case safetensors

    /// The format implied by a path: `.mp4`, `.safetensors`, or a trailing `/` (or an existing
    /// directory) for PNG frames.
    public static func infer(from path: String) -> OutputFormat? {
        let lower = path.lowercased()
        if lower.hasSuffix(".mp4") { return .mp4 }
        if lower.hasSuffix(".safetensors") { return .safetensors }
        var isDir: ObjCBool = false
        if path.hasSuffix("/") || (FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue) {
            return .pngSequence
        }
        return nil
    }
}

/// One shot of a multi-shot clip: its own prompt and length. Shots are generated one after
/// another and joined with hard cuts, so each cut falls exactly where the shots before it end.
public struct Shot: Sendable, Equatable {
    public var prompt: String
    /// Length in the clip; rounded to whole frames at the request's fps (at least one frame).
    public var durationSeconds: Double
    /// Later prompts within the shot, without a cut, at times counted from the shot's start.
    public var beats: [Beat]

    public init(prompt: String, durationSeconds: Double, beats: [Beat] = []) {
        self.prompt = prompt
        self.durationSeconds = durationSeconds
        self.beats = beats
    }
}

/// A change of prompt within a shot, without a cut: from `atSeconds` on, the frames follow
/// `prompt` ("…looks sad" after "…smiles"). The whole shot is still one generation: every frame
/// attends to every other, and only the text each frame attends to changes, from the first
/// latent frame more than half of whose frames come at or after the beat (every 4 frames for
/// Wan2.1, so beats must be at least that far apart and from the shot's start).
public struct Beat: Sendable, Equatable {
    public var atSeconds: Double
    public var prompt: String

    public init(atSeconds: Double, prompt: String) {
        self.atSeconds = atSeconds
        self.prompt = prompt
    }
}

/// Everything one generation needs. `nil` fields take the model's defaults.
public struct GenerationRequest: Sendable {
    /// The whole clip's prompt; must be empty when `shots` is given.
    public var prompt: String
    /// A clip of several shots, each from its own prompt, cut together in order. Empty: one shot
    /// from `prompt`. With shots, the clip's length is the sum of theirs (no `frames` or
    /// `durationSeconds`), shot k starts from the noise of `seed + k`, and `initialLatents` is not
    /// accepted.
    public var shots: [Shot] = []
    /// Beats of a single-shot request (times from the clip's start); with `shots`, each shot
    /// carries its own.
    public var beats: [Beat] = []
    /// Negative prompt for classifier-free guidance; nil takes Wan's default negative prompt.
    public var negativePrompt: String?
    public var width: Int?
    public var height: Int?
    /// Frame count; must be 4k+1. Mutually exclusive with `durationSeconds`.
    public var frames: Int?
    /// Clip length; rounded to the nearest valid frame count at `fps` (stated in the result).
    public var durationSeconds: Double?
    public var fps: Double?
    public var steps: Int?
    public var guidance: Float?
    public var flowShift: Float?
    public var sampler: SamplerKind?
    /// Frames generated before each shot (or the clip) and dropped, so that its kept frames
    /// start after the latent frames that open a generation; nil takes the model's default (0
    /// unless its `kinema.json` sets `lead_in_frames`). Beats and cuts keep their times. With 1
    /// + 4m frames at 8 fps (Wan2.1's 4x temporal compression) every kept half-second is one
    /// latent frame and every beat on a half-second starts one. Not used for a shot that starts
    /// from `image`, nor with `initialLatents`.
    public var leadInFrames: Int?
    /// Seed for the initial noise; nil draws one (reported in the result).
    public var seed: UInt64?
    /// Replaces the random initial noise: shape [C, T, H/8, W/8] (a leading batch of 1 is accepted).
    public var initialLatents: Tensor?
    /// A picture to start from (image-to-video): it becomes the clip's first frame (the first
    /// shot's, with shots) and the model generates the rest to follow it. It is scaled to cover
    /// the frame and centre-cropped, encoded by the VAE, and held fixed at every step (the
    /// transformer sees its latent frame clean, at timestep 0), as diffusers'
    /// `WanImageToVideoPipeline` does with `expand_timesteps` (Wan2.2's image-to-video); any
    /// Wan2.1 text-to-video model takes it, and follows it as well as it was trained to.
    public var image: ImageInput?
    /// Output file or directory; nil keeps the frames in memory only (`GenerationResult.video`).
    public var outputPath: String?
    /// Output format; nil infers it from `outputPath`.
    public var outputFormat: OutputFormat?
    /// H.264 constant rate factor (0–51, lower is better); nil uses the encoder default.
    public var crf: Int?
    /// Also return the decoded frames in memory.
    public var returnFrames: Bool

    public init(prompt: String) {
        self.prompt = prompt
        self.returnFrames = false
    }
}

/// Phases reported while a generation runs, in the order of their values, except
/// `encodingImage`, which comes after `encodingText` when an image is given.
public enum GenerationPhase: Int32, Sendable, CaseIterable {
    case queued = 0
    case encodingText = 1
    case denoising = 2
    case decoding = 3
    case writingVideo = 4
    case finished = 5
    /// Encoding `GenerationRequest.image`: after encoding text, before denoising.
    case encodingImage = 6

    public var name: String {
        switch self {
        case .queued: return "queued"
        case .encodingText: return "encoding text"
        case .denoising: return "denoising"
        case .decoding: return "decoding"
        case .writingVideo: return "writing video"
        case .finished: return "finished"
        case .encodingImage: return "encoding image"
        }
    }
}

/// A progress report: the phase, the step within it, overall fraction, elapsed time and ETA.
public struct GenerationProgress: Sendable, Equatable {
    public var phase: GenerationPhase
    /// 1-based step within the phase (denoising step k of n, decoded frame k of n, …).
    public var step: Int
    public var totalSteps: Int
    /// Overall completion in [0, 1], weighted by the expected cost of each phase.
    public var fraction: Double
    public var elapsedSeconds: Double
    /// Estimated seconds to completion; nil until there is enough to estimate from.
    public var etaSeconds: Double?

    public init(phase: GenerationPhase, step: Int, totalSteps: Int, fraction: Double,
                elapsedSeconds: Double, etaSeconds: Double?) {
        self.phase = phase; self.step = step; self.totalSteps = totalSteps
        self.fraction = fraction; self.elapsedSeconds = elapsedSeconds; self.etaSeconds = etaSeconds
    }
}

/// Seconds spent in each phase.
public struct GenerationTimings: Sendable, Equatable {
    public var textEncoding: Double = 0
    /// Encoding `GenerationRequest.image` (0 without one).
    public var imageEncoding: Double = 0
    public var denoising: Double = 0
    public var decoding: Double = 0
    public var writing: Double = 0
    public var total: Double = 0
    public init() {}
}

/// What a finished generation produced and the settings it actually used.
public struct GenerationResult: Sendable {
    public var outputPath: String?
    public var outputFormat: OutputFormat?
    public var width: Int
    public var height: Int
    public var frames: Int
    public var fps: Double
    public var durationSeconds: Double { fps > 0 ? Double(frames) / fps : 0 }
    public var steps: Int
    public var guidance: Float
    public var flowShift: Float
    public var sampler: SamplerKind
    public var seed: UInt64
    public var timings: GenerationTimings
    /// Notes worth telling the user (a rounded frame count, an encoder fallback, …).
    public var notes: [String]
    /// Decoded frames [frames, height, width, 3] in [0, 1], when requested.
    public var video: Tensor?

    /// Public so that engines outside this module can conform to `GenerationEngine`.
    public init(outputPath: String?, outputFormat: OutputFormat?, width: Int, height: Int, frames: Int,
                fps: Double, steps: Int, guidance: Float, flowShift: Float, sampler: SamplerKind,
                seed: UInt64, timings: GenerationTimings, notes: [String], video: Tensor?) {
        self.outputPath = outputPath; self.outputFormat = outputFormat
        self.width = width; self.height = height; self.frames = frames; self.fps = fps
        self.steps = steps; self.guidance = guidance; self.flowShift = flowShift
        self.sampler = sampler; self.seed = seed; self.timings = timings; self.notes = notes
        self.video = video
    }
}

/// Settings a model recommends, used for every `nil` field of a request.
public struct GenerationDefaults: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var frames: Int
    public var fps: Double
    public var steps: Int
    public var guidance: Float
    public var flowShift: Float
    public var sampler: SamplerKind
    public var negativePrompt: String
    /// See `GenerationRequest.leadInFrames`.
    public var leadInFrames: Int

    public init(width: Int, height: Int, frames: Int, fps: Double, steps: Int, guidance: Float,
                flowShift: Float, sampler: SamplerKind, negativePrompt: String, leadInFrames: Int = 0) {
        self.width = width; self.height = height; self.frames = frames; self.fps = fps
        self.steps = steps; self.guidance = guidance; self.flowShift = flowShift
        self.sampler = sampler; self.negativePrompt = negativePrompt; self.leadInFrames = leadInFrames
    }
}

/// A loaded model that turns requests into videos. Implementations are immutable after
/// loading, so one instance may serve several generations on several threads at once.
public protocol GenerationEngine: AnyObject, Sendable {
    var defaults: GenerationDefaults { get }
    /// Runs one generation. `progress` is called on the generating thread; `cancel` is polled
    /// at least once per transformer block, VAE frame and text-encoder layer. Throws
    /// `KinemaError` (`.cancelled` after a cancel); on any error no output file is left behind.
    func generate(_ request: GenerationRequest, cancel: CancellationToken?,
                  progress: ((GenerationProgress) -> Void)?) throws -> GenerationResult
}
