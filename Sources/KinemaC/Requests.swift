import CKinemaAPI
import Foundation
import Kinema

// MARK: - Struct versions

/// Checks the `struct_size` a caller put in a struct against the size this library was
/// built with, so a struct from a mismatched header (or a zeroed, uninitialised one) is
/// rejected instead of misread.
func checkStructSize<T>(_ size: UInt32, _ type: T.Type, name: String, initializer: String) throws {
    guard Int(size) == MemoryLayout<T>.size else {
        if size == 0 {
            throw CallFailure.invalid("\(name).struct_size is 0; initialise the struct with \(initializer)")
        }
        throw CallFailure.invalid(
            "\(name).struct_size is \(size) but this library's \(name) has \(MemoryLayout<T>.size) bytes; "
                + "the program was built against a different kinema.h")
    }
}

// MARK: - Model parameters

/// Loading options read from a `kinema_model_params`.
struct ModelLoadSettings {
    var threads: Int?
    var keepStoredPrecision = true
    var vaeMemoryBudgetBytes: Int?
    var log: LogSink?

    init(_ pointer: UnsafePointer<kinema_model_params>?) throws {
        guard let pointer else { return }
        let params = pointer.pointee
        try checkStructSize(params.struct_size, kinema_model_params.self,
                            name: "kinema_model_params", initializer: "kinema_model_default_params()")
        threads = try threadCount(params.n_threads, field: "kinema_model_params.n_threads")
        keepStoredPrecision = params.keep_stored_precision
        if params.vae_memory_budget_bytes != 0 {
            guard params.vae_memory_budget_bytes >= 1 << 20 else {
                throw CallFailure.invalid(
                    "kinema_model_params.vae_memory_budget_bytes is \(params.vae_memory_budget_bytes); "
                        + "expected 0 (default) or at least 1 MiB")
            }
            vaeMemoryBudgetBytes = Int(params.vae_memory_budget_bytes)
        }
        try validateLogLevel(params.log_level, field: "kinema_model_params.log_level")
        log = LogSink(callback: params.log_callback, userData: params.log_user_data,
                      minimumLevel: params.log_level)
    }
}

/// 0 keeps the current thread count; 1…1024 sets it.
private func threadCount(_ value: Int32, field: String) throws -> Int? {
    guard value != 0 else { return nil }
    guard (1...1024).contains(value) else {
        throw CallFailure.invalid("\(field) is \(value); expected 0 (keep) or 1 to 1024")
    }
    return Int(value)
}

// MARK: - Generation parameters

/// A validated generation: the request plus the job's callbacks.
struct JobSettings: @unchecked Sendable {
    var request: GenerationRequest
    var threads: Int?
    var progressCallback: kinema_progress_callback?
    var progressUserData: UnsafeMutableRawPointer?
    var log: LogSink?
}

/// Largest values accepted before a request reaches the model (which checks its own limits).
private enum Limits {
    static let pixels: Int32 = 16384
    static let frames: Int32 = 100_000
    static let steps: Int32 = 10_000
    static let fps: Double = 1000
    static let duration: Double = 24 * 3600
    static let guidance: Float = 1000
    static let flowShift: Float = 1000
    static let latentElements = 1 << 31
}

extension JobSettings {
    init(_ pointer: UnsafePointer<kinema_generate_params>?) throws {
        guard let pointer else { throw CallFailure.invalid("params is NULL") }
        let p = pointer.pointee
        let name = "kinema_generate_params"
        try checkStructSize(p.struct_size, kinema_generate_params.self,
                            name: name, initializer: "kinema_generate_default_params()")

        let shots = try Self.shots(p, name: name)
        var request = GenerationRequest(prompt: shots.isEmpty || p.prompt != nil
                                        ? try decodeString(p.prompt, field: "\(name).prompt") : "")
        request.shots = shots
        request.beats = try Self.beats(p.beats, count: p.beat_count, field: "\(name).beats",
                                      countField: "\(name).beat_count")
        request.negativePrompt = try decodeOptionalString(p.negative_prompt, field: "\(name).negative_prompt")

        request.width = try positiveOrDefault(p.width, limit: Limits.pixels, field: "\(name).width")
        request.height = try positiveOrDefault(p.height, limit: Limits.pixels, field: "\(name).height")
        request.frames = try positiveOrDefault(p.frames, limit: Limits.frames, field: "\(name).frames")
        request.steps = try positiveOrDefault(p.steps, limit: Limits.steps, field: "\(name).steps")
        request.fps = try positiveOrDefault(p.fps, limit: Limits.fps, field: "\(name).fps")
        request.durationSeconds = try positiveOrDefault(p.duration_seconds, limit: Limits.duration,
                                                        field: "\(name).duration_seconds")
        if request.frames != nil && request.durationSeconds != nil {
            throw CallFailure.invalid("\(name): set frames or duration_seconds, not both")
        }

        guard p.guidance.isFinite, p.guidance <= Limits.guidance else {
            throw CallFailure.invalid("\(name).guidance is \(p.guidance); expected a finite value up to \(Limits.guidance) (negative: model default)")
        }
        request.guidance = p.guidance < 0 ? nil : p.guidance
        guard p.flow_shift.isFinite, p.flow_shift <= Limits.flowShift else {
            throw CallFailure.invalid("\(name).flow_shift is \(p.flow_shift); expected a finite value up to \(Limits.flowShift) (0 or less: model default)")
        }
        request.flowShift = p.flow_shift <= 0 ? nil : p.flow_shift

        switch p.sampler {
        case Int32(KINEMA_SAMPLER_DEFAULT.rawValue): request.sampler = nil
        case Int32(KINEMA_SAMPLER_UNIPC.rawValue): request.sampler = .unipc
        case Int32(KINEMA_SAMPLER_EULER.rawValue): request.sampler = .euler
        default:
            throw CallFailure.invalid("\(name).sampler is \(p.sampler); expected a kinema_sampler value (0 to 2)")
        }
        request.seed = p.seed == UInt64.max ? nil : p.seed

        request.initialLatents = try Self.initialLatents(p, name: name)
        request.image = try Self.image(p, name: name)

        request.outputPath = try decodeOptionalString(p.output_path, field: "\(name).output_path")
        if request.outputPath?.isEmpty == true {
            throw CallFailure.invalid("\(name).output_path is empty; pass NULL to write no file")
        }
        request.outputFormat = try Self.outputFormat(p.output_format, path: request.outputPath, name: name)
        if p.crf != -1 {
            guard (0...51).contains(p.crf) else {
                throw CallFailure.invalid("\(name).crf is \(p.crf); expected 0 to 51, or -1 for the encoder default")
            }
            request.crf = Int(p.crf)
        }
        request.returnFrames = p.return_frames

        try validateLogLevel(p.log_level, field: "\(name).log_level")
        self.init(request: request,
                  threads: try threadCount(p.n_threads, field: "\(name).n_threads"),
                  progressCallback: p.progress_callback,
                  progressUserData: p.progress_user_data,
                  log: LogSink(callback: p.log_callback, userData: p.log_user_data, minimumLevel: p.log_level))
    }

    private static func shots(_ p: kinema_generate_params, name: String) throws -> [Shot] {
        try elements(p.shots, count: p.shot_count, maximum: KINEMA_MAX_SHOTS, field: "\(name).shots",
                     countField: "\(name).shot_count").enumerated().map { k, shot in
            let field = "\(name).shots[\(k)]"
            let d = shot.duration_seconds
            guard d.isFinite, d > 0, d <= Limits.duration else {
                throw CallFailure.invalid("\(field).duration_seconds is \(d); expected a positive value up to \(Limits.duration)")
            }
            return Shot(prompt: try decodeString(shot.prompt, field: "\(field).prompt"), durationSeconds: d,
                        beats: try beats(shot.beats, count: shot.beat_count, field: "\(field).beats",
                                         countField: "\(field).beat_count"))
        }
    }

    private static func beats(_ base: UnsafePointer<kinema_beat>?, count: Int32, field: String,
                              countField: String) throws -> [Beat] {
        try elements(base, count: count, maximum: KINEMA_MAX_BEATS, field: field, countField: countField)
            .enumerated().map { k, beat in
                let t = beat.at_seconds
                guard t.isFinite, t > 0, t <= Limits.duration else {
                    throw CallFailure.invalid("\(field)[\(k)].at_seconds is \(t); expected a positive time up to \(Limits.duration)")
                }
                return Beat(atSeconds: t, prompt: try decodeString(beat.prompt, field: "\(field)[\(k)].prompt"))
            }
    }

    /// A caller's array and its count: 0 … maximum elements, NULL exactly when the count is 0.
    private static func elements<T>(_ base: UnsafePointer<T>?, count: Int32, maximum: Int32, field: String,
                                    countField: String) throws -> UnsafeBufferPointer<T> {
        guard (0...maximum).contains(count) else {
            throw CallFailure.invalid("\(countField) is \(count); expected 0 to \(maximum)")
        }
        guard count > 0 else {
            guard base == nil else { throw CallFailure.invalid("\(field) is set but \(countField) is 0") }
            return UnsafeBufferPointer(start: nil, count: 0)
        }
        guard let base else { throw CallFailure.invalid("\(field) is NULL but \(countField) is \(count)") }
        return UnsafeBufferPointer(start: base, count: Int(count))
    }

    private static func outputFormat(_ value: Int32, path: String?, name: String) throws -> OutputFormat? {
        let format: OutputFormat?
        switch value {
        case Int32(KINEMA_FORMAT_AUTO.rawValue): format = nil
        case Int32(KINEMA_FORMAT_MP4.rawValue): format = .mp4
        case Int32(KINEMA_FORMAT_PNG.rawValue): format = .pngSequence
        case Int32(KINEMA_FORMAT_SAFETENSORS.rawValue): format = .safetensors
        default:
            throw CallFailure.invalid("\(name).output_format is \(value); expected a kinema_output_format value (0 to 3)")
        }
        guard let path else {
            if format != nil {
                throw CallFailure.invalid("\(name).output_format is set but output_path is NULL")
            }
            return nil
        }
        if let format { return format }
        guard let inferred = OutputFormat.infer(from: path) else {
            throw CallFailure.invalid(
                "\(name).output_path \"\(path)\": cannot tell the format from the name; "
                    + "end it in .mp4 or .safetensors, end a PNG directory in /, or set output_format")
        }
        return inferred
    }

    private static func image(_ p: kinema_generate_params, name: String) throws -> ImageInput? {
        let path = try decodeOptionalString(p.image_path, field: "\(name).image_path")
        guard let rgb = p.image_rgb else {
            guard p.image_width == 0, p.image_height == 0 else {
                throw CallFailure.invalid("\(name).image_width/image_height are set but image_rgb is NULL")
            }
            guard let path else { return nil }
            guard !path.isEmpty else { throw CallFailure.invalid("\(name).image_path is empty; pass NULL for no image") }
            return .file(URL(fileURLWithPath: path))
        }
        guard path == nil else { throw CallFailure.invalid("\(name): set image_path or image_rgb, not both") }
        let side = Int32(ImageInput.maximumSide)
        guard (1...side).contains(p.image_width), (1...side).contains(p.image_height) else {
            throw CallFailure.invalid("\(name).image_width x image_height is \(p.image_width) x \(p.image_height); "
                                      + "expected 1 to \(side) each with image_rgb")
        }
        let count = Int(p.image_width) * Int(p.image_height) * 3
        return .rgb(width: Int(p.image_width), height: Int(p.image_height),
                    pixels: Array(UnsafeBufferPointer(start: rgb, count: count)))
    }

    private static func initialLatents(_ p: kinema_generate_params, name: String) throws -> Tensor? {
        let path = try decodeOptionalString(p.initial_latents_path, field: "\(name).initial_latents_path")
        let rank = Int(p.initial_latents_rank)
        if rank == 0 {
            guard p.initial_latents == nil else {
                throw CallFailure.invalid("\(name).initial_latents is set but initial_latents_rank is 0")
            }
            if let path {
                return try InitialLatentsFile.read(path)
            }
            return nil
        }
        guard path == nil else {
            throw CallFailure.invalid("\(name): set initial_latents or initial_latents_path, not both")
        }
        guard (1...Int(KINEMA_MAX_LATENT_RANK)).contains(rank) else {
            throw CallFailure.invalid("\(name).initial_latents_rank is \(rank); expected 0 to \(KINEMA_MAX_LATENT_RANK)")
        }
        guard let data = p.initial_latents else {
            throw CallFailure.invalid("\(name).initial_latents is NULL but initial_latents_rank is \(rank)")
        }
        var shape: [Int] = []
        var count = 1
        withUnsafeBytes(of: p.initial_latents_shape) { raw in
            for i in 0..<rank { shape.append(Int(raw.load(fromByteOffset: i * 8, as: Int64.self))) }
        }
        for dimension in shape {
            guard dimension > 0 else {
                throw CallFailure.invalid("\(name).initial_latents_shape \(shape) has a dimension below 1")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= Limits.latentElements else {
                throw CallFailure.invalid("\(name).initial_latents_shape \(shape) is too large")
            }
            count = product
        }
        let values = Array(UnsafeBufferPointer(start: data, count: count))
        guard values.allSatisfy({ $0.isFinite }) else {
            throw CallFailure.invalid("\(name).initial_latents contains NaN or infinity")
        }
        return try Tensor(shape: shape, data: values)
    }
}

/// 0 (or less than zero for fields documented so) keeps the default; otherwise 1…limit.
private func positiveOrDefault(_ value: Int32, limit: Int32, field: String) throws -> Int? {
    guard value != 0 else { return nil }
    guard value > 0, value <= limit else {
        throw CallFailure.invalid("\(field) is \(value); expected 0 (model default) or 1 to \(limit)")
    }
    return Int(value)
}

private func positiveOrDefault(_ value: Double, limit: Double, field: String) throws -> Double? {
    guard value != 0 else { return nil }
    guard value.isFinite, value > 0, value <= limit else {
        throw CallFailure.invalid("\(field) is \(value); expected 0 (model default) or a positive value up to \(limit)")
    }
    return value
}
