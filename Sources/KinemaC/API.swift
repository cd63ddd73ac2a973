import CKinemaAPI
import Foundation
import Kinema

// The exported C functions. `make header` prints their declarations into include/kinema.h
// in the order they appear here, under the MARK sections, with these doc comments.
// Every function checks its arguments and returns an error status instead of trapping:
// nothing here may force-unwrap, and every handle goes through HandleRegistry.

/// The version of the C interface, kept equal to the KINEMA_VERSION_* macros of kinema.h.
enum APIVersion {
    static let major = 0
    static let minor = 1
    static let patch = 0
    static let string = OwnedCString("\(major).\(minor).\(patch)")
}

private func handle<T>(_ object: AnyObject, as type: T.Type) -> UnsafeMutablePointer<T> {
    HandleRegistry.shared.register(object).assumingMemoryBound(to: T.self)
}

// MARK: - Library

/// The library's version, "MAJOR.MINOR.PATCH" (a static string). A program can compare its major number with KINEMA_VERSION_MAJOR to detect a library built from a different kinema.h.
@_cdecl("kinema_version")
public func kinema_version() -> UnsafePointer<CChar> {
    APIVersion.string.constPointer
}

/// A short English description of a status code ("unknown status" for values that are not one). The string is static.
@_cdecl("kinema_status_string")
public func kinema_status_string(_ status: kinema_status) -> UnsafePointer<CChar> {
    StatusText.string(status.rawValue)
}

/// The message of the last call that failed on the calling thread, naming the problem (the parameter, the file, the tensor); "" if no call has failed on this thread. Successful calls leave it unchanged. The string belongs to the thread and stays valid until the next failing kinema call on it.
@_cdecl("kinema_last_error")
public func kinema_last_error() -> UnsafePointer<CChar> {
    LastError.current
}

/// The name of a kinema_phase ("denoising", ...; "unknown" for other values). The string is static.
@_cdecl("kinema_phase_name")
public func kinema_phase_name(_ phase: Int32) -> UnsafePointer<CChar> {
    PhaseText.string(phase)
}

/// Describes a public struct as this library was compiled, so bindings can check their own definitions: with field_index -1 it gives the struct's name and size (offset 0); with 0, 1, ... the name, offset and size of each field in declaration order. Any output pointer may be NULL. Returns KINEMA_ERROR_INVALID_ARGUMENT for an unknown type name or a field_index past the last field (the outputs are then left unchanged). Names are static strings.
@_cdecl("kinema_struct_layout")
public func kinema_struct_layout(_ type_name: UnsafePointer<CChar>?, _ field_index: Int32,
                                 _ out_field_name: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                 _ out_offset: UnsafeMutablePointer<UInt64>?,
                                 _ out_size: UnsafeMutablePointer<UInt64>?) -> kinema_status {
    withStatus {
        let name = try decodeString(type_name, field: "type_name")
        guard let layout = StructLayout.all[name] else {
            throw CallFailure.invalid("\(name) is not a public kinema struct")
        }
        if field_index == -1 {
            out_field_name?.pointee = layout.name.constPointer
            out_offset?.pointee = 0
            out_size?.pointee = UInt64(layout.size)
            return
        }
        guard field_index >= 0, Int(field_index) < layout.fields.count else {
            throw CallFailure.invalid("\(name) has \(layout.fields.count) fields; there is no field \(field_index)")
        }
        let field = layout.fields[Int(field_index)]
        out_field_name?.pointee = field.name.constPointer
        out_offset?.pointee = UInt64(max(field.offset, 0))
        out_size?.pointee = UInt64(field.size)
    }
}

// MARK: - Models

/// Loading options with their defaults: all cores (unless already set), no log callback, log level INFO, 16-bit weights kept in 16 bits, the default VAE memory budget.
@_cdecl("kinema_model_default_params")
public func kinema_model_default_params() -> kinema_model_params {
    var params = kinema_model_params()
    params.struct_size = UInt32(MemoryLayout<kinema_model_params>.size)
    params.n_threads = 0
    params.log_level = Int32(KINEMA_LOG_INFO.rawValue)
    params.keep_stored_precision = true
    params.vae_memory_budget_bytes = 0
    return params
}

/// Loads the model in the diffusers-layout directory `path` (UTF-8) and stores its handle in *out_model. A NULL path loads the default model: the directory named by the KINEMA_MODEL environment variable when it is set, otherwise Kinema-Tiny installed beside the library (PREFIX/share/kinema/models/kinema-tiny, see make install) or in the source tree the library was built in. `params` may be NULL for the defaults. Blocks while the weights load; the log callback runs on the calling thread. On failure *out_model is set to NULL and nothing stays allocated; kinema_last_error() names the problem (a missing file, a tensor of the wrong shape, ...). Free the model with kinema_model_free.
@_cdecl("kinema_model_load")
public func kinema_model_load(_ path: UnsafePointer<CChar>?, _ params: UnsafePointer<kinema_model_params>?,
                              _ out_model: UnsafeMutablePointer<UnsafeMutablePointer<kinema_model>?>?) -> kinema_status {
    withStatus {
        guard let out_model else { throw CallFailure.invalid("out_model is NULL") }
        out_model.pointee = nil
        let settings = try ModelLoadSettings(params)
        let modelPath = try decodeOptionalString(path, field: "path")
        if modelPath?.isEmpty == true { throw CallFailure.invalid("path is empty; pass NULL for the default model") }
        let model = try ModelHandle.load(path: modelPath, settings: settings)
        out_model.pointee = handle(model, as: kinema_model.self)
    }
}

/// Releases the caller's handle to a model. Jobs still running on it keep the weights alive until they are freed; the model's log callback is not called after this returns. Accepts NULL (and ignores a handle that is not live).
@_cdecl("kinema_model_free")
public func kinema_model_free(_ model: UnsafeMutablePointer<kinema_model>?) {
    HandleRegistry.shared.remove(model, as: ModelHandle.self)?.detachLog()
}

/// A kinema_model_info with struct_size set and everything else zero, to pass to kinema_model_get_info.
@_cdecl("kinema_model_info_init")
public func kinema_model_info_init() -> kinema_model_info {
    var info = kinema_model_info()
    info.struct_size = UInt32(MemoryLayout<kinema_model_info>.size)
    return info
}

/// Fills *out_info (its struct_size set, see kinema_model_info_init) with the model's directory and the settings it uses for parameters left at their defaults. The strings belong to the model and stay valid until kinema_model_free. On failure *out_info is unchanged.
@_cdecl("kinema_model_get_info")
public func kinema_model_get_info(_ model: UnsafePointer<kinema_model>?,
                              _ out_info: UnsafeMutablePointer<kinema_model_info>?) -> kinema_status {
    withStatus {
        let handle = try HandleRegistry.shared.model(model)
        guard let out_info else { throw CallFailure.invalid("out_info is NULL") }
        try checkStructSize(out_info.pointee.struct_size, kinema_model_info.self,
                            name: "kinema_model_info", initializer: "kinema_model_info_init()")
        let defaults = handle.engine.defaults
        var info = kinema_model_info_init()
        info.path = handle.path.constPointer
        info.width = clampedInt32(defaults.width)
        info.height = clampedInt32(defaults.height)
        info.frames = clampedInt32(defaults.frames)
        info.fps = defaults.fps
        info.steps = clampedInt32(defaults.steps)
        info.guidance = defaults.guidance
        info.flow_shift = defaults.flowShift
        info.sampler = samplerCode(defaults.sampler)
        info.negative_prompt = handle.negativePrompt.constPointer
        out_info.pointee = info
    }
}

// MARK: - Generation

/// Generation parameters with every setting at the model's default: no prompt yet (set one), a random seed, no output file, crf -1, log level INFO, no callbacks.
@_cdecl("kinema_generate_default_params")
public func kinema_generate_default_params() -> kinema_generate_params {
    var params = kinema_generate_params()
    params.struct_size = UInt32(MemoryLayout<kinema_generate_params>.size)
    params.guidance = -1
    params.flow_shift = 0
    params.sampler = Int32(KINEMA_SAMPLER_DEFAULT.rawValue)
    params.seed = UInt64.max
    params.output_format = Int32(KINEMA_FORMAT_AUTO.rawValue)
    params.crf = -1
    params.log_level = Int32(KINEMA_LOG_INFO.rawValue)
    return params
}

/// A kinema_progress with struct_size set and everything else zero, to pass to kinema_job_progress.
@_cdecl("kinema_progress_init")
public func kinema_progress_init() -> kinema_progress {
    var progress = kinema_progress()
    progress.struct_size = UInt32(MemoryLayout<kinema_progress>.size)
    progress.eta_seconds = -1
    return progress
}

/// A kinema_result with struct_size set and everything else zero, to pass to kinema_generate or kinema_job_result.
@_cdecl("kinema_result_init")
public func kinema_result_init() -> kinema_result {
    var result = kinema_result()
    result.struct_size = UInt32(MemoryLayout<kinema_result>.size)
    return result
}

/// Runs one generation on the calling thread and returns its status (KINEMA_ERROR_CANCELLED when the progress callback returned false). Callbacks run on the calling thread. When out_result is not NULL (its struct_size set, see kinema_result_init) it receives the result, which then owns its strings and frames: release them with kinema_result_free. On failure *out_result is left with only struct_size set, no output file is left behind, and kinema_last_error() holds the message.
@_cdecl("kinema_generate")
public func kinema_generate(_ model: UnsafeMutablePointer<kinema_model>?,
                            _ params: UnsafePointer<kinema_generate_params>?,
                            _ out_result: UnsafeMutablePointer<kinema_result>?) -> kinema_status {
    var jobStatus = KINEMA_OK
    let callStatus = withStatus {
        let handle = try HandleRegistry.shared.model(model)
        if let out_result {
            try checkStructSize(out_result.pointee.struct_size, kinema_result.self,
                                name: "kinema_result", initializer: "kinema_result_init()")
            out_result.pointee = kinema_result_init()
        }
        let job = Job(model: handle, settings: try JobSettings(params))
        jobStatus = job.runHere()
        guard jobStatus == KINEMA_OK else {
            throw CallFailure(status: jobStatus, message: String(cString: job.errorMessage))
        }
        if let out_result {
            let storage = try job.result()
            storage.fill(out_result, owner: HandleRegistry.shared.register(storage))
        }
    }
    return callStatus
}

/// Releases the strings and frames of a result filled by kinema_generate and resets it to kinema_result_init()'s state; a result from kinema_job_result (whose buffers belong to the job) is only reset. Accepts NULL and an already released result.
@_cdecl("kinema_result_free")
public func kinema_result_free(_ result: UnsafeMutablePointer<kinema_result>?) {
    guard let result else { return }
    let owner = result.pointee.owner
    let size = result.pointee.struct_size
    _ = HandleRegistry.shared.remove(owner, as: ResultStorage.self)
    guard Int(size) == MemoryLayout<kinema_result>.size else { return }
    result.pointee = kinema_result_init()
}

// MARK: - Jobs

/// Starts a generation on a new background thread and stores its handle in *out_job. The parameters, their strings and initial latents are copied before this returns. The job's callbacks run on its thread. *out_job is set before the job's thread starts, so its callbacks may use it from the first report. On failure (invalid parameters, a bad handle) *out_job is set to NULL and nothing runs. Free the job with kinema_job_free.
@_cdecl("kinema_job_start")
public func kinema_job_start(_ model: UnsafeMutablePointer<kinema_model>?,
                             _ params: UnsafePointer<kinema_generate_params>?,
                             _ out_job: UnsafeMutablePointer<UnsafeMutablePointer<kinema_job>?>?) -> kinema_status {
    withStatus {
        guard let out_job else { throw CallFailure.invalid("out_job is NULL") }
        out_job.pointee = nil
        let handleObject = try HandleRegistry.shared.model(model)
        let job = Job(model: handleObject, settings: try JobSettings(params))
        // The handle is published before the job's thread starts, so a callback may use the
        // value the caller passed as out_job from the very first report.
        let jobHandle = handle(job, as: kinema_job.self)
        out_job.pointee = jobHandle
        do {
            try job.start()
        } catch {
            out_job.pointee = nil
            _ = HandleRegistry.shared.remove(UnsafeRawPointer(jobHandle), as: Job.self)
            throw error
        }
    }
}

/// KINEMA_RUNNING while the job runs, then its final status (KINEMA_OK, KINEMA_ERROR_CANCELLED, ...). Does not block.
@_cdecl("kinema_job_status")
public func kinema_job_status(_ job: UnsafePointer<kinema_job>?) -> kinema_status {
    var status = KINEMA_OK
    let callStatus = withStatus {
        status = try HandleRegistry.shared.job(job).status
    }
    return callStatus == KINEMA_OK ? status : callStatus
}

/// Fills *out_progress (its struct_size set, see kinema_progress_init) with the job's phase, step, overall fraction, elapsed time and estimated time left. Callable from any thread at any time; after the job finishes it keeps the last report (phase FINISHED on success).
@_cdecl("kinema_job_progress")
public func kinema_job_progress(_ job: UnsafePointer<kinema_job>?,
                                _ out_progress: UnsafeMutablePointer<kinema_progress>?) -> kinema_status {
    withStatus {
        let handle = try HandleRegistry.shared.job(job)
        guard let out_progress else { throw CallFailure.invalid("out_progress is NULL") }
        try checkStructSize(out_progress.pointee.struct_size, kinema_progress.self,
                            name: "kinema_progress", initializer: "kinema_progress_init()")
        out_progress.pointee = progressStruct(handle.currentProgress)
    }
}

/// Asks the job to stop and returns at once; the job ends with KINEMA_ERROR_CANCELLED within one transformer block (or VAE frame, or text-encoder layer), leaving no output file. Safe from any thread and from the job's own callbacks; cancelling a finished job does nothing.
@_cdecl("kinema_job_cancel")
public func kinema_job_cancel(_ job: UnsafeMutablePointer<kinema_job>?) -> kinema_status {
    withStatus {
        try HandleRegistry.shared.job(job).cancel()
    }
}

/// Blocks until the job finishes and returns its final status; when that is an error, kinema_last_error() (and kinema_job_error) hold the message. Any number of threads may wait; a callback of the job itself gets KINEMA_ERROR_WRONG_STATE.
@_cdecl("kinema_job_wait")
public func kinema_job_wait(_ job: UnsafeMutablePointer<kinema_job>?) -> kinema_status {
    var status = KINEMA_OK
    let callStatus = withStatus {
        let handle = try HandleRegistry.shared.job(job)
        status = try handle.wait()
        if status != KINEMA_OK { LastError.set(String(cString: handle.errorMessage)) }
    }
    return callStatus == KINEMA_OK ? status : callStatus
}

/// As kinema_job_wait, but gives up after timeout_seconds (0 polls) and then returns KINEMA_RUNNING.
@_cdecl("kinema_job_wait_timeout")
public func kinema_job_wait_timeout(_ job: UnsafeMutablePointer<kinema_job>?, _ timeout_seconds: Double) -> kinema_status {
    var status = KINEMA_OK
    let callStatus = withStatus {
        let handle = try HandleRegistry.shared.job(job)
        guard timeout_seconds.isFinite, timeout_seconds >= 0 else {
            throw CallFailure.invalid("timeout_seconds is \(timeout_seconds); expected a finite value of 0 or more")
        }
        status = try handle.wait(timeout: min(timeout_seconds, 1e9))
        if status != KINEMA_OK && status != KINEMA_RUNNING {
            LastError.set(String(cString: handle.errorMessage))
        }
    }
    return callStatus == KINEMA_OK ? status : callStatus
}

/// Fills *out_result (its struct_size set, see kinema_result_init) with what the finished job produced: output path, frame count, fps, the seed used, size, timings, notes and (when requested) the frames. The strings and frames belong to the job and stay valid until kinema_job_free; do not pass this result to kinema_result_free (which would only reset it). KINEMA_ERROR_WRONG_STATE while the job runs or when it failed; *out_result is then unchanged.
@_cdecl("kinema_job_result")
public func kinema_job_result(_ job: UnsafePointer<kinema_job>?,
                              _ out_result: UnsafeMutablePointer<kinema_result>?) -> kinema_status {
    withStatus {
        let handle = try HandleRegistry.shared.job(job)
        guard let out_result else { throw CallFailure.invalid("out_result is NULL") }
        try checkStructSize(out_result.pointee.struct_size, kinema_result.self,
                            name: "kinema_result", initializer: "kinema_result_init()")
        try handle.result().fill(out_result, owner: nil)
    }
}

/// The message explaining why the job failed ("" while it runs and after success; NULL for a NULL or unknown handle). The string belongs to the job and stays valid until kinema_job_free.
@_cdecl("kinema_job_error")
public func kinema_job_error(_ job: UnsafePointer<kinema_job>?) -> UnsafePointer<CChar>? {
    HandleRegistry.shared.lookup(job, as: Job.self)?.errorMessage
}

/// Frees a job: cancels it if it still runs and waits for it to stop, so no callback of the job runs after this returns (called from the job's own callback, it cancels without waiting and suppresses further callbacks). The job's strings and result become invalid. Accepts NULL (and ignores a handle that is not live).
@_cdecl("kinema_job_free")
public func kinema_job_free(_ job: UnsafeMutablePointer<kinema_job>?) {
    HandleRegistry.shared.remove(job, as: Job.self)?.release()
}
