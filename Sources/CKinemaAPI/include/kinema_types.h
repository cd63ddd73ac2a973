/*
 * kinema.h: the C interface of Kinema, a text-to-video engine that runs Wan2.1-family
 * diffusion models on the CPU and writes MP4 video.
 *
 * Usage (error handling shortened):
 *
 *     #include <kinema.h>
 *
 *     kinema_model *model = NULL;
 *     kinema_model_params mp = kinema_model_default_params();
 *     if (kinema_model_load("/models/Wan2.1-T2V-1.3B-Diffusers", &mp, &model) != KINEMA_OK) {
 *         fprintf(stderr, "kinema: %s\n", kinema_last_error());
 *         return 1;
 *     }
 *     kinema_generate_params gp = kinema_generate_default_params();
 *     gp.prompt = "a red fox running through fresh snow";
 *     gp.output_path = "fox.mp4";
 *
 *     kinema_job *job = NULL;
 *     if (kinema_job_start(model, &gp, &job) == KINEMA_OK) {
 *         kinema_progress p = kinema_progress_init();
 *         while (kinema_job_wait_timeout(job, 1.0) == KINEMA_RUNNING) {
 *             if (kinema_job_progress(job, &p) == KINEMA_OK)
 *                 printf("%s %d/%d\n", kinema_phase_name(p.phase), p.step, p.total_steps);
 *         }
 *         kinema_result r = kinema_result_init();
 *         if (kinema_job_result(job, &r) == KINEMA_OK)
 *             printf("wrote %s: %d frames at %.0f fps, seed %llu\n", r.output_path, r.frames,
 *                    r.fps, (unsigned long long)r.seed);
 *         else
 *             fprintf(stderr, "kinema: %s\n", kinema_job_error(job));
 *         kinema_job_free(job);
 *     }
 *     kinema_model_free(model);
 *
 * kinema_generate() does the same in one blocking call. Link with
 * `cc app.c $(pkg-config --cflags --libs kinema)`.
 *
 * Thread safety: a loaded kinema_model is immutable, so any number of threads may start jobs
 * (or call kinema_generate) on one model at the same time; each job runs on its own thread.
 * Every kinema_job function may be called from any thread, concurrently with the job running
 * and with each other; kinema_job_cancel returns at once and the job stops at its next check,
 * at most one transformer block, VAE frame or text-encoder layer later. kinema_job_free and
 * kinema_model_free must be the last call on their handle; a model may be freed while its jobs
 * still run (they keep the weights alive until kinema_job_free). Callbacks run on the job's
 * thread (the calling thread for kinema_generate), one at a time per job; they may call
 * kinema_job_cancel but not wait for their own job. kinema_last_error() is per thread. The
 * number of compute threads (n_threads) is one setting for the whole process. The library
 * contains its own Swift runtime and cannot be unloaded: do not dlclose() it.
 *
 * Ownership: strings and buffers the library hands out belong to the object they came from
 * and stay valid until that object is freed (kinema_job_free, kinema_model_free,
 * kinema_result_free); strings passed in are copied before the call returns. Every free
 * function accepts NULL. Handles are checked on every call: a NULL, made-up or already freed
 * handle gives KINEMA_ERROR_INVALID_ARGUMENT, never a crash (only once its memory is reused can
 * a stale handle stand for a newer object of the same kind).
 *
 * ABI: structs carry their own size in `struct_size`, set by the *_default_params and *_init
 * functions; the library rejects a struct whose size is not its own (a program built against
 * a different kinema.h, an uninitialised struct) instead of misreading it. New fields are only
 * ever added at the end.
 */
#ifndef KINEMA_H
#define KINEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KINEMA_VERSION_MAJOR 0
#define KINEMA_VERSION_MINOR 1
#define KINEMA_VERSION_PATCH 0

/* MARK: - Handles */

/* A loaded model: immutable, shareable between threads and jobs. */
typedef struct kinema_model kinema_model;
/* One generation running (or finished) on a background thread. */
typedef struct kinema_job kinema_job;

#if defined(__swift__)
/* The Swift implementation sees complete (never instantiated) structs, so the declarations
   the compiler prints for it name the handle types; C sees them as opaque. Stripped from
   the installed header. */
struct kinema_model { uint8_t unused_; };
struct kinema_job { uint8_t unused_; };
#endif

/* MARK: - Status codes */

/* Every call returns a status: 0 is success, errors are negative (the same codes as Swift's
   KinemaError.Code). kinema_status_string() names them; kinema_last_error() and
   kinema_job_error() carry the message that explains them. */
typedef enum kinema_status {
    KINEMA_OK = 0,
    /* Not an error: the job has not finished yet (kinema_job_status, kinema_job_wait_timeout). */
    KINEMA_RUNNING = 1,
    KINEMA_ERROR_INVALID_ARGUMENT = -1,
    KINEMA_ERROR_IO = -2,
    KINEMA_ERROR_CORRUPT_FILE = -3,
    KINEMA_ERROR_UNSUPPORTED = -4,
    KINEMA_ERROR_SHAPE_MISMATCH = -5,
    KINEMA_ERROR_CANCELLED = -6,
    KINEMA_ERROR_OUT_OF_MEMORY = -7,
    KINEMA_ERROR_MISSING_COMPONENT = -8,
    KINEMA_ERROR_ENCODER = -9,
    KINEMA_ERROR_WRONG_STATE = -10,
    KINEMA_ERROR_INTERNAL = -99
} kinema_status;

/* MARK: - Enumerations (stored as int32_t in the structs) */

/* Phases of a generation, in order of their values (ENCODING_IMAGE excepted). */
typedef enum kinema_phase {
    KINEMA_PHASE_QUEUED = 0,
    KINEMA_PHASE_ENCODING_TEXT = 1,
    KINEMA_PHASE_DENOISING = 2,
    KINEMA_PHASE_DECODING = 3,
    KINEMA_PHASE_WRITING_VIDEO = 4,
    KINEMA_PHASE_FINISHED = 5,
    KINEMA_PHASE_ENCODING_IMAGE = 6   /* after ENCODING_TEXT, when an image is given */
} kinema_phase;

typedef enum kinema_sampler {
    KINEMA_SAMPLER_DEFAULT = 0, /* the model's (UniPC for Wan2.1) */
    KINEMA_SAMPLER_UNIPC = 1,   /* UniPC multistep, flow prediction, order 2 */
    KINEMA_SAMPLER_EULER = 2    /* flow-matching Euler */
} kinema_sampler;

typedef enum kinema_output_format {
    KINEMA_FORMAT_AUTO = 0,       /* from output_path: .mp4, .safetensors, or a directory for PNG */
    KINEMA_FORMAT_MP4 = 1,        /* H.264 yuv420p MP4 */
    KINEMA_FORMAT_PNG = 2,        /* a directory of numbered PNG frames */
    KINEMA_FORMAT_SAFETENSORS = 3 /* float32 tensor "video" [frames, height, width, 3] in [0, 1] */
} kinema_output_format;

typedef enum kinema_log_level {
    KINEMA_LOG_DEBUG = 0,
    KINEMA_LOG_INFO = 1,
    KINEMA_LOG_WARNING = 2,
    KINEMA_LOG_ERROR = 3
} kinema_log_level;

/* Asks for a random seed; the seed actually used is reported in kinema_result.seed. */
#define KINEMA_SEED_RANDOM UINT64_MAX
/* Most dimensions an initial-latents tensor may have. */
#define KINEMA_MAX_LATENT_RANK 5

/* MARK: - Callbacks */

/* A log message (UTF-8, no trailing newline, valid only during the call). */
typedef void (*kinema_log_callback)(int32_t level, const char *message, void *user_data);

struct kinema_progress;
/* Called on the job's thread whenever progress advances. Return false to cancel the job
   (as kinema_job_cancel does); the generation then ends with KINEMA_ERROR_CANCELLED. */
typedef bool (*kinema_progress_callback)(const struct kinema_progress *progress, void *user_data);

/* MARK: - Structs */

/* How to load a model. Start from kinema_model_default_params(). */
typedef struct kinema_model_params {
    uint32_t struct_size;             /* sizeof(kinema_model_params) */
    /* Compute threads for the kernels and OpenBLAS; 0 keeps the current setting (all cores
       unless changed). A process-wide setting. */
    int32_t n_threads;
    /* Receives loading messages, and the messages of jobs that set no log callback of their
       own, until kinema_model_free. May be NULL. */
    kinema_log_callback log_callback;
    void *log_user_data;
    int32_t log_level;                /* least kinema_log_level passed on; default INFO */
    /* Keep 16-bit (bf16/f16) weights in 16-bit memory and widen them as they are used (true,
       the default: half the memory), or widen everything to float32 at load (faster). */
    bool keep_stored_precision;
    /* Memory the VAE decoder may use per frame before it decodes in spatial tiles;
       0: the library's default. */
    int64_t vae_memory_budget_bytes;
} kinema_model_params;

/* Most shots in one generation (kinema_generate_params.shot_count), and most beats in one shot. */
#define KINEMA_MAX_SHOTS 64
#define KINEMA_MAX_BEATS 64

/* A change of prompt within a shot, without a cut: from at_seconds on, the frames follow
   prompt. The shot stays one generation; only the text each latent frame attends to changes,
   from the first latent frame more than half of whose frames come at or after the beat (every 4
   frames for Wan2.1, so beats must be at least that far apart and from the shot's start). */
typedef struct kinema_beat {
    double at_seconds;                /* > the previous beat (or 0), < the shot's length */
    const char *prompt;               /* required; UTF-8, copied by the call */
} kinema_beat;

/* One shot of a multi-shot clip (kinema_generate_params.shots). */
typedef struct kinema_shot {
    const char *prompt;               /* required; UTF-8, copied by the call */
    double duration_seconds;          /* > 0; rounded to whole frames at the clip's fps */
    const kinema_beat *beats;         /* times from the shot's start, increasing; may be NULL */
    int32_t beat_count;               /* 0 to KINEMA_MAX_BEATS */
} kinema_shot;

/* Everything one generation takes. Start from kinema_generate_default_params(); zero (or the
   value stated) keeps the model's default. Strings are UTF-8 and copied by the call. */
typedef struct kinema_generate_params {
    uint32_t struct_size;             /* sizeof(kinema_generate_params) */
    const char *prompt;               /* required, unless shots are given (then NULL or "") */
    const char *negative_prompt;      /* NULL: the model's default negative prompt */
    int32_t width;                    /* pixels, multiple of 16; 0: model default */
    int32_t height;                   /* pixels, multiple of 16; 0: model default */
    int32_t frames;                   /* 4k+1 for Wan2.1; 0: model default or duration_seconds */
    double duration_seconds;          /* > 0: frames from the clip length at fps */
    double fps;                       /* 0: model default */
    int32_t steps;                    /* denoising steps; 0: model default */
    float guidance;                   /* classifier-free guidance scale; < 0: model default */
    float flow_shift;                 /* timestep shift; <= 0: model default */
    int32_t sampler;                  /* kinema_sampler */
    uint64_t seed;                    /* KINEMA_SEED_RANDOM: draw one (see kinema_result.seed) */
    /* Initial noise to start from instead of the seed's: float32, row-major, shape
       [C, T, H/s, W/s] or [1, C, T, H/s, W/s] with the model VAE's channels C and compression
       (Wan2.1: C = 16, s = 8, T = (frames - 1) / 4 + 1). Read during the call only.
       initial_latents_rank 0 means none. */
    const float *initial_latents;
    int64_t initial_latents_shape[KINEMA_MAX_LATENT_RANK];
    int32_t initial_latents_rank;
    /* Or: a .safetensors file holding that tensor (its only tensor, or one named "latents"). */
    const char *initial_latents_path;
    /* Output file (.mp4, .safetensors) or directory (PNG frames); NULL writes nothing. The file
       appears complete or not at all (written to a temporary name, then renamed). */
    const char *output_path;
    int32_t output_format;            /* kinema_output_format */
    int32_t crf;                      /* H.264 quality 0-51, lower is better; -1: encoder default */
    bool return_frames;               /* keep the decoded frames in the result (kinema_result.video) */
    /* Compute threads, set for the whole process when the job starts; 0 keeps the setting. */
    int32_t n_threads;
    kinema_progress_callback progress_callback; /* may be NULL */
    void *progress_user_data;
    /* Messages of this job; NULL: the model's log callback. */
    kinema_log_callback log_callback;
    void *log_user_data;
    int32_t log_level;                /* least kinema_log_level passed on; default INFO */
    /* A clip of several shots instead of one prompt: shot k is generated from its own prompt
       (with the noise of seed + k) and the shots are joined in order with hard cuts, each cut
       on the exact frame where the shots before it end. The clip is as long as its shots, so
       frames, duration_seconds and the initial latents must be left unset. Read during the
       call only. shot_count 0 means one shot from prompt. */
    const kinema_shot *shots;
    int32_t shot_count;               /* 0 to KINEMA_MAX_SHOTS */
    /* Beats of a single-prompt clip (times from its start); with shots, each shot has its own. */
    const kinema_beat *beats;
    int32_t beat_count;               /* 0 to KINEMA_MAX_BEATS */
    /* Image-to-video: a picture that becomes the clip's first frame (the first shot's) while
       the rest is generated to follow it. Either a file FFmpeg decodes (PNG, JPEG, ...) or
       packed 8-bit RGB rows from the top (image_width * image_height * 3 bytes, read during the
       call only); not both. Scaled to cover width x height and centre-cropped; the clip (its
       first shot) needs more than one latent frame: 5 frames or more for Wan2.1. Both NULL:
       text-to-video. */
    const char *image_path;
    const uint8_t *image_rgb;
    int32_t image_width;              /* pixels of image_rgb; 0 without it */
    int32_t image_height;
} kinema_generate_params;

/* Where a job is. Set struct_size (kinema_progress_init) before asking for it. */
typedef struct kinema_progress {
    uint32_t struct_size;             /* sizeof(kinema_progress) */
    int32_t phase;                    /* kinema_phase */
    int32_t step;                     /* 1-based step within the phase (0 before the first) */
    int32_t total_steps;              /* steps in this phase */
    double fraction;                  /* whole generation, 0 to 1 */
    double elapsed_seconds;
    double eta_seconds;               /* seconds left; negative while unknown */
} kinema_progress;

/* Seconds spent in each phase. */
typedef struct kinema_timings {
    double text_encoding;
    double denoising;
    double decoding;
    double writing;
    double total;
} kinema_timings;

/* What a finished generation produced and the settings it used. Set struct_size
   (kinema_result_init) before asking for it. */
typedef struct kinema_result {
    uint32_t struct_size;             /* sizeof(kinema_result) */
    /* Private to the library: non-NULL when the result owns its buffers (kinema_generate),
       NULL when they belong to a job (kinema_job_result). */
    void *owner;
    const char *output_path;          /* the file or directory written; NULL if none */
    int32_t output_format;            /* kinema_output_format; AUTO when nothing was written */
    int32_t width;
    int32_t height;
    int32_t frames;
    double fps;
    int32_t steps;
    float guidance;
    float flow_shift;
    int32_t sampler;                  /* kinema_sampler */
    uint64_t seed;                    /* the seed used (drawn when KINEMA_SEED_RANDOM was asked) */
    kinema_timings timings;
    const char *notes;                /* things worth telling the user, one per line; "" if none */
    /* Decoded frames [frames, height, width, 3], float32 in [0, 1], when return_frames was
       set; else NULL. video_count is the number of floats. */
    const float *video;
    uint64_t video_count;
} kinema_result;

/* The settings a model uses for every parameter left at its default. */
typedef struct kinema_model_info {
    uint32_t struct_size;             /* sizeof(kinema_model_info) */
    const char *path;                 /* the model directory; owned by the model */
    int32_t width;
    int32_t height;
    int32_t frames;
    double fps;
    int32_t steps;
    float guidance;
    float flow_shift;
    int32_t sampler;                  /* kinema_sampler */
    const char *negative_prompt;      /* owned by the model */
} kinema_model_info;

/* @KINEMA_FUNCTIONS@ */

#ifdef __cplusplus
}
#endif

#endif /* KINEMA_H */
