import CKinemaAPI

/// The size and field offsets of every public struct as this library was compiled, so a
/// binding (ctypes, another language's FFI, a program built against another kinema.h)
/// can check its own layout against the library's.
enum StructLayout {
    struct Field {
        let name: OwnedCString
        let offset: Int
        let size: Int
    }

    struct Layout {
        let name: OwnedCString
        let size: Int
        let fields: [Field]
    }

    private static func field<T, V>(_ keyPath: KeyPath<T, V>, _ name: String) -> Field {
        Field(name: OwnedCString(name), offset: MemoryLayout<T>.offset(of: keyPath) ?? -1,
              size: MemoryLayout<V>.size)
    }

    private static func layout<T>(_ type: T.Type, _ name: String, _ fields: [Field]) -> (String, Layout) {
        (name, Layout(name: OwnedCString(name), size: MemoryLayout<T>.size, fields: fields))
    }

    static let all: [String: Layout] = Dictionary(uniqueKeysWithValues: [
        layout(kinema_model_params.self, "kinema_model_params", [
            field(\kinema_model_params.struct_size, "struct_size"),
            field(\kinema_model_params.n_threads, "n_threads"),
            field(\kinema_model_params.log_callback, "log_callback"),
            field(\kinema_model_params.log_user_data, "log_user_data"),
            field(\kinema_model_params.log_level, "log_level"),
            field(\kinema_model_params.keep_stored_precision, "keep_stored_precision"),
            field(\kinema_model_params.vae_memory_budget_bytes, "vae_memory_budget_bytes"),
        ]),
        layout(kinema_generate_params.self, "kinema_generate_params", [
            field(\kinema_generate_params.struct_size, "struct_size"),
            field(\kinema_generate_params.prompt, "prompt"),
            field(\kinema_generate_params.negative_prompt, "negative_prompt"),
            field(\kinema_generate_params.width, "width"),
            field(\kinema_generate_params.height, "height"),
            field(\kinema_generate_params.frames, "frames"),
            field(\kinema_generate_params.duration_seconds, "duration_seconds"),
            field(\kinema_generate_params.fps, "fps"),
            field(\kinema_generate_params.steps, "steps"),
            field(\kinema_generate_params.guidance, "guidance"),
            field(\kinema_generate_params.flow_shift, "flow_shift"),
            field(\kinema_generate_params.sampler, "sampler"),
            field(\kinema_generate_params.seed, "seed"),
            field(\kinema_generate_params.initial_latents, "initial_latents"),
            field(\kinema_generate_params.initial_latents_shape, "initial_latents_shape"),
            field(\kinema_generate_params.initial_latents_rank, "initial_latents_rank"),
            field(\kinema_generate_params.initial_latents_path, "initial_latents_path"),
            field(\kinema_generate_params.output_path, "output_path"),
            field(\kinema_generate_params.output_format, "output_format"),
            field(\kinema_generate_params.crf, "crf"),
            field(\kinema_generate_params.return_frames, "return_frames"),
            field(\kinema_generate_params.n_threads, "n_threads"),
            field(\kinema_generate_params.progress_callback, "progress_callback"),
            field(\kinema_generate_params.progress_user_data, "progress_user_data"),
            field(\kinema_generate_params.log_callback, "log_callback"),
            field(\kinema_generate_params.log_user_data, "log_user_data"),
            field(\kinema_generate_params.log_level, "log_level"),
            field(\kinema_generate_params.shots, "shots"),
            field(\kinema_generate_params.shot_count, "shot_count"),
            field(\kinema_generate_params.beats, "beats"),
            field(\kinema_generate_params.beat_count, "beat_count"),
            field(\kinema_generate_params.image_path, "image_path"),
            field(\kinema_generate_params.image_rgb, "image_rgb"),
            field(\kinema_generate_params.image_width, "image_width"),
            field(\kinema_generate_params.image_height, "image_height"),
        ]),
        layout(kinema_shot.self, "kinema_shot", [
            field(\kinema_shot.prompt, "prompt"),
            field(\kinema_shot.duration_seconds, "duration_seconds"),
            field(\kinema_shot.beats, "beats"),
            field(\kinema_shot.beat_count, "beat_count"),
        ]),
        layout(kinema_beat.self, "kinema_beat", [
            field(\kinema_beat.at_seconds, "at_seconds"),
            field(\kinema_beat.prompt, "prompt"),
        ]),
        layout(kinema_progress.self, "kinema_progress", [
            field(\kinema_progress.struct_size, "struct_size"),
            field(\kinema_progress.phase, "phase"),
            field(\kinema_progress.step, "step"),
            field(\kinema_progress.total_steps, "total_steps"),
            field(\kinema_progress.fraction, "fraction"),
            field(\kinema_progress.elapsed_seconds, "elapsed_seconds"),
            field(\kinema_progress.eta_seconds, "eta_seconds"),
        ]),
        layout(kinema_timings.self, "kinema_timings", [
            field(\kinema_timings.text_encoding, "text_encoding"),
            field(\kinema_timings.denoising, "denoising"),
            field(\kinema_timings.decoding, "decoding"),
            field(\kinema_timings.writing, "writing"),
            field(\kinema_timings.total, "total"),
        ]),
        layout(kinema_result.self, "kinema_result", [
            field(\kinema_result.struct_size, "struct_size"),
            field(\kinema_result.owner, "owner"),
            field(\kinema_result.output_path, "output_path"),
            field(\kinema_result.output_format, "output_format"),
            field(\kinema_result.width, "width"),
            field(\kinema_result.height, "height"),
            field(\kinema_result.frames, "frames"),
            field(\kinema_result.fps, "fps"),
            field(\kinema_result.steps, "steps"),
            field(\kinema_result.guidance, "guidance"),
            field(\kinema_result.flow_shift, "flow_shift"),
            field(\kinema_result.sampler, "sampler"),
            field(\kinema_result.seed, "seed"),
            field(\kinema_result.timings, "timings"),
            field(\kinema_result.notes, "notes"),
            field(\kinema_result.video, "video"),
            field(\kinema_result.video_count, "video_count"),
        ]),
        layout(kinema_model_info.self, "kinema_model_info", [
            field(\kinema_model_info.struct_size, "struct_size"),
            field(\kinema_model_info.path, "path"),
            field(\kinema_model_info.width, "width"),
            field(\kinema_model_info.height, "height"),
            field(\kinema_model_info.frames, "frames"),
            field(\kinema_model_info.fps, "fps"),
            field(\kinema_model_info.steps, "steps"),
            field(\kinema_model_info.guidance, "guidance"),
            field(\kinema_model_info.flow_shift, "flow_shift"),
            field(\kinema_model_info.sampler, "sampler"),
            field(\kinema_model_info.negative_prompt, "negative_prompt"),
        ]),
    ])
}
