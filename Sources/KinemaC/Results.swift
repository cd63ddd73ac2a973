import CKinemaAPI
import Foundation
import Kinema

/// A finished generation in the form the C side reads: the settings it used, plus C copies
/// of its strings and frames that live as long as this object.
final class ResultStorage: @unchecked Sendable {
    private let result: GenerationResult
    private let outputPath: OwnedCString?
    private let notes: OwnedCString
    private let video: UnsafeMutableBufferPointer<Float>?

    init(_ generated: GenerationResult) {
        var result = generated
        if let frames = generated.video {
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: frames.data.count)
            _ = buffer.initialize(from: frames.data)
            video = buffer
        } else {
            video = nil
        }
        result.video = nil
        self.result = result
        outputPath = generated.outputPath.map(OwnedCString.init)
        notes = OwnedCString(generated.notes.joined(separator: "\n"))
    }

    deinit {
        video?.deallocate()
    }

    /// Writes this result into `out`; `owner` is the handle kinema_result_free releases
    /// (NULL when the buffers belong to a job).
    func fill(_ out: UnsafeMutablePointer<kinema_result>, owner: UnsafeMutableRawPointer?) {
        var c = kinema_result()
        c.struct_size = UInt32(MemoryLayout<kinema_result>.size)
        c.owner = owner
        c.output_path = outputPath.map { $0.constPointer }
        c.output_format = outputFormatCode(outputPath == nil ? nil : result.outputFormat)
        c.width = clampedInt32(result.width)
        c.height = clampedInt32(result.height)
        c.frames = clampedInt32(result.frames)
        c.fps = result.fps
        c.steps = clampedInt32(result.steps)
        c.guidance = result.guidance
        c.flow_shift = result.flowShift
        c.sampler = samplerCode(result.sampler)
        c.seed = result.seed
        c.timings = kinema_timings(
            text_encoding: result.timings.textEncoding,
            denoising: result.timings.denoising,
            decoding: result.timings.decoding,
            writing: result.timings.writing,
            total: result.timings.total)
        c.notes = notes.constPointer
        if let video {
            c.video = UnsafePointer(video.baseAddress)
            c.video_count = UInt64(video.count)
        }
        out.pointee = c
    }

    var summary: String {
        var text = "\(result.width)x\(result.height), \(result.frames) frames at \(result.fps) fps, seed \(result.seed)"
        if let path = result.outputPath { text += ", written to \(path)" }
        return text + String(format: " in %.2f s", result.timings.total)
    }
}

func samplerCode(_ sampler: SamplerKind?) -> Int32 {
    switch sampler {
    case .none: return Int32(KINEMA_SAMPLER_DEFAULT.rawValue)
    case .unipc: return Int32(KINEMA_SAMPLER_UNIPC.rawValue)
    case .euler: return Int32(KINEMA_SAMPLER_EULER.rawValue)
    }
}

func outputFormatCode(_ format: OutputFormat?) -> Int32 {
    switch format {
    case .none: return Int32(KINEMA_FORMAT_AUTO.rawValue)
    case .mp4: return Int32(KINEMA_FORMAT_MP4.rawValue)
    case .pngSequence: return Int32(KINEMA_FORMAT_PNG.rawValue)
    case .safetensors: return Int32(KINEMA_FORMAT_SAFETENSORS.rawValue)
    }
}

func clampedInt32(_ value: Int) -> Int32 {
    Int32(clamping: value)
}

/// The C form of a progress report.
func progressStruct(_ progress: GenerationProgress) -> kinema_progress {
    var c = kinema_progress()
    c.struct_size = UInt32(MemoryLayout<kinema_progress>.size)
    c.phase = progress.phase.rawValue
    c.step = clampedInt32(progress.step)
    c.total_steps = clampedInt32(progress.totalSteps)
    c.fraction = progress.fraction
    c.elapsed_seconds = progress.elapsedSeconds
    c.eta_seconds = progress.etaSeconds ?? -1
    return c
}
