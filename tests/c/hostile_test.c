/* A hostile caller: every function called with NULLs, dangling and made-up handles,
   out-of-range values, invalid UTF-8, uninitialised structs and calls in the wrong order.
   Each must return the documented error status (with a message), never crash, and leave
   nothing behind. Run under valgrind by run.sh, so an invalid read or a leak also fails.

   usage: hostile_test MODEL_DIR TEMP_DIR (the tiny random-weight pipeline will do) */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <kinema.h>

static int failures = 0;
static int checks = 0;

#define EXPECT(condition)                                                          \
    do {                                                                           \
        checks++;                                                                  \
        if (!(condition)) {                                                        \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #condition);            \
            failures++;                                                            \
        }                                                                          \
    } while (0)

/* The call must return `want`, and an error must come with a message. */
#define EXPECT_STATUS(call, want)                                                                     \
    do {                                                                                              \
        kinema_status got_ = (call);                                                                  \
        checks++;                                                                                     \
        if (got_ != (want)) {                                                                         \
            printf("FAIL %s:%d: %s returned %d (%s), expected %d (%s); last error: %s\n", __FILE__,   \
                   __LINE__, #call, (int)got_, kinema_status_string(got_), (int)(want),               \
                   kinema_status_string(want), kinema_last_error());                                  \
            failures++;                                                                               \
        } else if (got_ < 0 && kinema_last_error()[0] == '\0') {                                      \
            printf("FAIL %s:%d: %s failed without a message\n", __FILE__, __LINE__, #call);           \
            failures++;                                                                               \
        }                                                                                             \
    } while (0)

static const char *model_dir;
static const char *default_model_dir; /* where the installed Kinema-Tiny is, or NULL when none is installed */
static const char *temp_dir;

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void sleep_seconds(double seconds) {
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

/* A small, quick generation. */
static kinema_generate_params valid_params(void) {
    kinema_generate_params p = kinema_generate_default_params();
    p.prompt = "a lighthouse in a storm";
    p.seed = 7;
    p.width = 32;
    p.height = 32;
    p.frames = 5;
    p.steps = 2;
    return p;
}

/* One that runs long enough (20 steps, tens of milliseconds) to be caught while running. */
static kinema_generate_params slow_params(void) {
    kinema_generate_params p = valid_params();
    p.steps = 20;
    return p;
}

/* MARK: - Library functions */

static void library_functions(void) {
    const char *name = (const char *)1;
    uint64_t offset = 99, size = 99;
    EXPECT(strcmp(kinema_status_string((kinema_status)12345), "unknown status") == 0);
    EXPECT(strcmp(kinema_status_string(KINEMA_ERROR_CANCELLED), "cancelled") == 0);
    EXPECT(strcmp(kinema_phase_name(-7), "unknown") == 0);
    EXPECT(strcmp(kinema_phase_name(KINEMA_PHASE_DENOISING), "denoising") == 0);
    EXPECT(kinema_last_error() != NULL);
    EXPECT_STATUS(kinema_struct_layout(NULL, -1, &name, &offset, &size), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_struct_layout("\xff\xfe", -1, NULL, NULL, NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_struct_layout("kinema_result", 9999, &name, &offset, &size), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_struct_layout("kinema_result", -2, &name, &offset, &size), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT(name == (const char *)1 && offset == 99 && size == 99);
    EXPECT_STATUS(kinema_struct_layout("kinema_result", 0, NULL, NULL, NULL), KINEMA_OK);
}

/* MARK: - Loading */

static void loading(void) {
    kinema_model *model = (kinema_model *)&failures; /* must be reset to NULL on failure */
    kinema_model_params params = kinema_model_default_params();
    char file_path[4096];
    FILE *file;

    /* A KINEMA_MODEL that names no model is an error naming it, never a silent fallback. */
    setenv("KINEMA_MODEL", "/nonexistent/model", 1);
    EXPECT_STATUS(kinema_model_load(NULL, NULL, &model), KINEMA_ERROR_MISSING_COMPONENT);
    EXPECT(model == NULL && strstr(kinema_last_error(), "KINEMA_MODEL") != NULL);
    unsetenv("KINEMA_MODEL");
    EXPECT_STATUS(kinema_model_load(model_dir, NULL, NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_model_load("/nonexistent/model", NULL, &model), KINEMA_ERROR_IO);
    EXPECT_STATUS(kinema_model_load("", NULL, &model), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_model_load("/tmp/\xc3\x28", NULL, &model), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_model_load(temp_dir, NULL, &model), KINEMA_ERROR_MISSING_COMPONENT); /* no model_index.json */
    snprintf(file_path, sizeof file_path, "%s/not-a-model.txt", temp_dir);
    file = fopen(file_path, "w");
    if (file) {
        fputs("hello", file);
        fclose(file);
    }
    EXPECT_STATUS(kinema_model_load(file_path, NULL, &model), KINEMA_ERROR_INVALID_ARGUMENT);
    remove(file_path);

    params.struct_size = 0;
    EXPECT_STATUS(kinema_model_load(model_dir, &params, &model), KINEMA_ERROR_INVALID_ARGUMENT);
    params.struct_size = sizeof params + 8;
    EXPECT_STATUS(kinema_model_load(model_dir, &params, &model), KINEMA_ERROR_INVALID_ARGUMENT);
    params = kinema_model_default_params();
    params.n_threads = -3;
    EXPECT_STATUS(kinema_model_load(model_dir, &params, &model), KINEMA_ERROR_INVALID_ARGUMENT);
    params = kinema_model_default_params();
    params.log_level = 42;
    EXPECT_STATUS(kinema_model_load(model_dir, &params, &model), KINEMA_ERROR_INVALID_ARGUMENT);
    params = kinema_model_default_params();
    params.vae_memory_budget_bytes = -1;
    EXPECT_STATUS(kinema_model_load(model_dir, &params, &model), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT(model == NULL);

    /* NULL path: KINEMA_MODEL. */
    setenv("KINEMA_MODEL", model_dir, 1);
    EXPECT_STATUS(kinema_model_load(NULL, NULL, &model), KINEMA_OK);
    EXPECT(model != NULL);
    kinema_model_free(model);

    /* NULL path without KINEMA_MODEL (unset or empty): Kinema-Tiny installed beside the library. */
    for (int empty = 0; empty < 2; empty++) {
        kinema_model_info info = kinema_model_info_init();
        if (empty) setenv("KINEMA_MODEL", "", 1); else unsetenv("KINEMA_MODEL");
        model = NULL;
        EXPECT_STATUS(kinema_model_load(NULL, NULL, &model), default_model_dir ? KINEMA_OK : KINEMA_ERROR_MISSING_COMPONENT);
        if (default_model_dir) {
            EXPECT_STATUS(kinema_model_get_info(model, &info), KINEMA_OK);
            EXPECT(info.path != NULL && strcmp(info.path, default_model_dir) == 0);
        } else {
            EXPECT(model == NULL && strstr(kinema_last_error(), "KINEMA_MODEL") != NULL);
        }
        kinema_model_free(model);
    }
    unsetenv("KINEMA_MODEL");

    /* Frees accept NULL, dangling and made-up handles. */
    kinema_model_free(NULL);
    kinema_model_free(model); /* already freed */
    kinema_model_free((kinema_model *)&params);
    kinema_job_free(NULL);
    kinema_job_free((kinema_job *)&params);
    kinema_result_free(NULL);
}

/* MARK: - Model and generation parameters */

static void model_calls(kinema_model *model) {
    kinema_model_info info = kinema_model_info_init();
    kinema_model_info zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    EXPECT_STATUS(kinema_model_get_info(NULL, &info), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_model_get_info(model, NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_model_get_info(model, &zeroed), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_model_get_info((kinema_model *)&info, &info), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_model_get_info(model, &info), KINEMA_OK);
    EXPECT(info.width > 0 && info.height > 0 && info.frames > 0 && info.steps > 0);
    EXPECT(info.path != NULL && strcmp(info.path, model_dir) == 0);
    EXPECT(info.negative_prompt != NULL && info.negative_prompt[0] != '\0');
}

/* Each case breaks one field of otherwise valid parameters. */
static void bad_parameters(kinema_model *model) {
    kinema_generate_params p;
    kinema_result result = kinema_result_init();
    kinema_result zeroed;
    kinema_job *job = (kinema_job *)&p;
    float latents[4] = {0.f, 1.f, NAN, 2.f};
    kinema_shot shots[2] = {{"a cat on a wall", 0.5, NULL, 0}, {"a dog on a beach", 0.25, NULL, 0}};
    kinema_beat beats[1] = {{0.125, "a cat asleep on a wall"}};
    char path[4096];
    FILE *file;

#define BAD(mutation, want)                                                         \
    do {                                                                            \
        p = valid_params();                                                         \
        mutation;                                                                   \
        EXPECT_STATUS(kinema_generate(model, &p, NULL), want);                      \
        EXPECT_STATUS(kinema_job_start(model, &p, &job), want);                     \
        EXPECT(job == NULL);                                                        \
    } while (0)

    /* Rejected by the engine once the job runs: kinema_job_start succeeds, the job fails. */
#define BAD_IN_JOB(mutation, want)                                                  \
    do {                                                                            \
        p = valid_params();                                                         \
        mutation;                                                                   \
        EXPECT_STATUS(kinema_generate(model, &p, NULL), want);                      \
        EXPECT_STATUS(kinema_job_start(model, &p, &job), KINEMA_OK);                \
        EXPECT_STATUS(kinema_job_wait(job), want);                                  \
        EXPECT(kinema_job_error(job) != NULL && kinema_job_error(job)[0] != '\0');  \
        kinema_job_free(job);                                                       \
        job = NULL;                                                                 \
    } while (0)

    BAD(p.struct_size = 0, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.struct_size = 12, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.prompt = NULL, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.prompt = "caf\xc3", KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.prompt = "\xed\xa0\x80 surrogate", KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.negative_prompt = "\xff", KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.width = -16, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.width = 1 << 30, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.height = INT32_MIN, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD_IN_JOB(p.width = 33, KINEMA_ERROR_INVALID_ARGUMENT); /* the engine's own check */
    BAD(p.frames = -1, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD_IN_JOB(p.frames = 6, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.frames = 5, p.duration_seconds = 1), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.fps = 2000, KINEMA_ERROR_INVALID_ARGUMENT); /* over the library's limit */
    BAD(p.duration_seconds = -1, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.duration_seconds = INFINITY, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.fps = NAN, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.fps = -24, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.steps = -5, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.steps = INT32_MAX, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.guidance = NAN, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.guidance = INFINITY, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.flow_shift = NAN, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.sampler = 9, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.sampler = -1, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.output_format = 77, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.output_format = KINEMA_FORMAT_MP4, KINEMA_ERROR_INVALID_ARGUMENT); /* no output_path */
    BAD(p.output_path = "", KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.output_path = "/tmp/video.unknown-extension", KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.output_path = "/tmp/\xfe.safetensors", KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.crf = 52, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.crf = -2, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.n_threads = -1, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.n_threads = 100000, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.log_level = -1, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.initial_latents = latents, KINEMA_ERROR_INVALID_ARGUMENT); /* rank 0 */
    BAD(p.initial_latents_rank = 6, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.initial_latents_rank = -1, KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.initial_latents_rank = 1, KINEMA_ERROR_INVALID_ARGUMENT); /* NULL data */
    BAD((p.initial_latents = latents, p.initial_latents_rank = 2, p.initial_latents_shape[0] = 2,
         p.initial_latents_shape[1] = 0),
        KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.initial_latents = latents, p.initial_latents_rank = 2, p.initial_latents_shape[0] = -2,
         p.initial_latents_shape[1] = -2),
        KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.initial_latents = latents, p.initial_latents_rank = 3, p.initial_latents_shape[0] = INT64_MAX,
         p.initial_latents_shape[1] = INT64_MAX, p.initial_latents_shape[2] = 2),
        KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.initial_latents = latents, p.initial_latents_rank = 1, p.initial_latents_shape[0] = 4),
        KINEMA_ERROR_INVALID_ARGUMENT); /* NaN inside */
    BAD_IN_JOB((p.initial_latents = latents, p.initial_latents_rank = 1, p.initial_latents_shape[0] = 2),
               KINEMA_ERROR_SHAPE_MISMATCH); /* the model wants [C, T, H/8, W/8] */
    BAD_IN_JOB(p.fps = 500, KINEMA_ERROR_INVALID_ARGUMENT); /* the model's own limit */
    BAD((p.initial_latents = latents, p.initial_latents_rank = 1, p.initial_latents_shape[0] = 2,
         p.initial_latents_path = "/tmp/latents.safetensors"),
        KINEMA_ERROR_INVALID_ARGUMENT);
    BAD(p.initial_latents_path = "/nonexistent/latents.safetensors", KINEMA_ERROR_IO);
    snprintf(path, sizeof path, "%s/garbage.safetensors", temp_dir);
    file = fopen(path, "w");
    if (file) {
        fputs("\x10\x00\x00\x00\x00\x00\x00\x00{not json at all", file);
        fclose(file);
    }
    BAD(p.initial_latents_path = path, KINEMA_ERROR_CORRUPT_FILE);
    remove(path);
    /* A directory that does not exist: the write fails and leaves nothing. */
    BAD_IN_JOB(p.output_path = "/nonexistent-dir/out.safetensors", KINEMA_ERROR_IO);
    /* Shots: counts, pointers, each shot's prompt and length, and what cannot go with them. */
    BAD((p.shots = shots, p.shot_count = -1), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.shots = shots, p.shot_count = KINEMA_MAX_SHOTS + 1), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.shots = NULL, p.shot_count = 2), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.shots = shots, p.shot_count = 0), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.frames = 0, p.prompt = NULL, p.shots = shots, p.shot_count = 2, shots[1].prompt = NULL),
        KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.frames = 0, p.prompt = NULL, p.shots = shots, p.shot_count = 2, shots[1].prompt = "caf\xc3"),
        KINEMA_ERROR_INVALID_ARGUMENT);
    shots[1].prompt = "a dog on a beach";
    BAD((p.frames = 0, p.prompt = NULL, p.shots = shots, p.shot_count = 2, shots[0].duration_seconds = NAN),
        KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.frames = 0, p.prompt = NULL, p.shots = shots, p.shot_count = 2, shots[0].duration_seconds = -1),
        KINEMA_ERROR_INVALID_ARGUMENT);
    shots[0].duration_seconds = 0.5;
    BAD_IN_JOB((p.shots = shots, p.shot_count = 2), KINEMA_ERROR_INVALID_ARGUMENT); /* a prompt and frames too */
    BAD_IN_JOB((p.frames = 0, p.prompt = NULL, p.shots = shots, p.shot_count = 2, p.fps = 1),
               KINEMA_ERROR_INVALID_ARGUMENT); /* 0.25 s is under one frame at 1 fps */
    /* Beats: counts, pointers, times and prompts, of the clip and of a shot. */
    BAD((p.beats = NULL, p.beat_count = 1), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.beats = beats, p.beat_count = 0), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.beats = beats, p.beat_count = KINEMA_MAX_BEATS + 1), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.beats = beats, p.beat_count = 1, beats[0].prompt = NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    beats[0].prompt = "a cat asleep on a wall";
    BAD((p.beats = beats, p.beat_count = 1, beats[0].at_seconds = NAN), KINEMA_ERROR_INVALID_ARGUMENT);
    beats[0].at_seconds = 0.125;
    BAD((p.frames = 0, p.prompt = NULL, p.shots = shots, p.shot_count = 2, shots[0].beat_count = 1),
        KINEMA_ERROR_INVALID_ARGUMENT);
    shots[0].beat_count = 0;
    BAD_IN_JOB((p.beats = beats, p.beat_count = 1, beats[0].at_seconds = 10), KINEMA_ERROR_INVALID_ARGUMENT);
    beats[0].at_seconds = 0.125;
    /* Images: exactly one of a path and pixels, sizes in range, and files that cannot be read. */
    static const uint8_t grey[2 * 2 * 3] = {128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128, 128};
    BAD((p.image_rgb = NULL, p.image_width = 2, p.image_height = 2), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.image_rgb = grey, p.image_width = 0, p.image_height = 2), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.image_rgb = grey, p.image_width = 2, p.image_height = -2), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.image_rgb = grey, p.image_width = 20000, p.image_height = 1), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.image_rgb = grey, p.image_width = 2, p.image_height = 2, p.image_path = "start.png"),
        KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.image_path = ""), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD((p.image_path = "caf\xc3.png"), KINEMA_ERROR_INVALID_ARGUMENT);
    BAD_IN_JOB((p.image_path = "/nonexistent/start.png"), KINEMA_ERROR_IO);
    BAD_IN_JOB((p.image_path = __FILE__), KINEMA_ERROR_CORRUPT_FILE);
    BAD_IN_JOB((p.image_rgb = grey, p.image_width = 2, p.image_height = 2, p.frames = 1),
               KINEMA_ERROR_INVALID_ARGUMENT);
#undef BAD
#undef BAD_IN_JOB

    p = valid_params();
    EXPECT_STATUS(kinema_generate(NULL, &p, NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_generate((kinema_model *)&p, &p, NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_generate(model, NULL, NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    memset(&zeroed, 0, sizeof zeroed);
    EXPECT_STATUS(kinema_generate(model, &p, &zeroed), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_start(model, &p, NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_start(NULL, &p, &job), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT(job == NULL);

    /* A valid call in the middle of all that still works, and its result frees twice. */
    snprintf(path, sizeof path, "%s/ok.safetensors", temp_dir);
    p.output_path = path;
    p.return_frames = true;
    EXPECT_STATUS(kinema_generate(model, &p, &result), KINEMA_OK);
    EXPECT(result.output_path != NULL && strcmp(result.output_path, path) == 0);
    EXPECT(result.seed == 7 && result.frames == 5 && result.width == 32 && result.video != NULL);
    EXPECT(result.video_count == (uint64_t)result.frames * (uint64_t)result.height * (uint64_t)result.width * 3u);
    EXPECT(file_exists(path));
    kinema_result_free(&result);
    EXPECT(result.output_path == NULL && result.video == NULL && result.struct_size == sizeof result);
    kinema_result_free(&result);
    remove(path);

    /* Two shots at 16 fps: 8 + 4 frames, the cut noted. */
    p = valid_params();
    p.prompt = NULL;
    p.frames = 0;
    p.fps = 16;
    p.shots = shots;
    p.shot_count = 2;
    EXPECT_STATUS(kinema_generate(model, &p, &result), KINEMA_OK);
    EXPECT(result.frames == 12 && result.notes != NULL && strstr(result.notes, "cuts at 0.5 s (frame 8)") != NULL);
    kinema_result_free(&result);

    /* A beat at 0.125 s of 5 frames at 16 fps: pixel frame 2; latent frame 1 (frames 1, 2) is only half
       after it, so the text changes from latent frame 2. */
    p = valid_params();
    p.fps = 16;
    p.beats = beats;
    p.beat_count = 1;
    EXPECT_STATUS(kinema_generate(model, &p, &result), KINEMA_OK);
    EXPECT(result.frames == 5 && strstr(result.notes, "beats start at latent frames 2") != NULL);
    kinema_result_free(&result);
}

/* MARK: - Jobs in the wrong order */

struct callback_state {
    kinema_job *job; /* written by kinema_job_start before the job thread exists */
    volatile int calls_after_free;
    volatile int freed;
    volatile kinema_status wait_status;
    volatile int done;
};

static bool wait_inside_callback(const kinema_progress *progress, void *user_data) {
    struct callback_state *state = (struct callback_state *)user_data;
    if (progress->phase == KINEMA_PHASE_DENOISING && state->job != NULL && !state->done) {
        state->wait_status = kinema_job_wait(state->job);
        state->done = 1;
    }
    return true;
}

static bool free_inside_callback(const kinema_progress *progress, void *user_data) {
    struct callback_state *state = (struct callback_state *)user_data;
    if (state->freed) {
        state->calls_after_free++;
        return true;
    }
    if (progress->phase == KINEMA_PHASE_DENOISING && state->job != NULL) {
        kinema_job_free(state->job);
        state->freed = 1;
    }
    return true;
}

static void wrong_order(kinema_model *model) {
    kinema_generate_params p = slow_params();
    kinema_job *job = NULL;
    kinema_progress progress = kinema_progress_init();
    kinema_progress zeroed_progress;
    kinema_result result = kinema_result_init();
    struct callback_state state;
    char path[4096];
    int i;

    memset(&zeroed_progress, 0, sizeof zeroed_progress);
    EXPECT_STATUS(kinema_job_status(NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_progress(NULL, &progress), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_cancel(NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_wait(NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_wait_timeout(NULL, 1), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_result(NULL, &result), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT(kinema_job_error(NULL) == NULL);
    EXPECT_STATUS(kinema_job_status((kinema_job *)&p), KINEMA_ERROR_INVALID_ARGUMENT);

    /* A slow job: asked for its result too early, then waited for properly. */
    snprintf(path, sizeof path, "%s/slow.safetensors", temp_dir);
    p.output_path = path;
    EXPECT_STATUS(kinema_job_start(model, &p, &job), KINEMA_OK);
    EXPECT_STATUS(kinema_job_status(job), KINEMA_RUNNING);
    EXPECT_STATUS(kinema_job_result(job, &result), KINEMA_ERROR_WRONG_STATE);
    EXPECT(kinema_job_error(job) != NULL && kinema_job_error(job)[0] == '\0');
    EXPECT_STATUS(kinema_job_progress(job, NULL), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_progress(job, &zeroed_progress), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_progress(job, &progress), KINEMA_OK);
    EXPECT(progress.fraction >= 0 && progress.fraction <= 1);
    EXPECT_STATUS(kinema_job_wait_timeout(job, -1), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_wait_timeout(job, NAN), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_wait_timeout(job, 0), KINEMA_RUNNING);
    EXPECT_STATUS(kinema_job_wait(job), KINEMA_OK);
    EXPECT_STATUS(kinema_job_wait(job), KINEMA_OK); /* again */
    EXPECT_STATUS(kinema_job_cancel(job), KINEMA_OK); /* after the end: nothing happens */
    EXPECT_STATUS(kinema_job_status(job), KINEMA_OK);
    EXPECT_STATUS(kinema_job_result(job, &result), KINEMA_OK);
    EXPECT(result.output_path != NULL && strcmp(result.output_path, path) == 0 && result.owner == NULL);
    kinema_result_free(&result); /* a job's result: only reset */
    result = kinema_result_init();
    EXPECT_STATUS(kinema_job_result(job, &result), KINEMA_OK);
    EXPECT(result.output_path != NULL);
    EXPECT_STATUS(kinema_job_progress(job, &progress), KINEMA_OK);
    EXPECT(progress.phase == KINEMA_PHASE_FINISHED && progress.fraction == 1.0);
    kinema_job_free(job);
    EXPECT(file_exists(path));
    remove(path);

    /* Every call on a freed job is an error; freeing it again does nothing. */
    EXPECT_STATUS(kinema_job_status(job), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_progress(job, &progress), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_cancel(job), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_wait(job), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT_STATUS(kinema_job_result(job, &result), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT(kinema_job_error(job) == NULL);
    kinema_job_free(job);

    /* A cancelled job: no result, a message, no file. */
    EXPECT_STATUS(kinema_job_start(model, &p, &job), KINEMA_OK);
    EXPECT_STATUS(kinema_job_cancel(job), KINEMA_OK);
    EXPECT_STATUS(kinema_job_cancel(job), KINEMA_OK);
    EXPECT_STATUS(kinema_job_wait(job), KINEMA_ERROR_CANCELLED);
    EXPECT(strlen(kinema_last_error()) > 0);
    EXPECT(kinema_job_error(job) != NULL && kinema_job_error(job)[0] != '\0');
    EXPECT_STATUS(kinema_job_result(job, &result), KINEMA_ERROR_WRONG_STATE);
    kinema_job_free(job);
    EXPECT(!file_exists(path));

    /* A failing job keeps its message. */
    p.output_path = "/nonexistent-dir/x.safetensors";
    EXPECT_STATUS(kinema_job_start(model, &p, &job), KINEMA_OK);
    EXPECT_STATUS(kinema_job_wait(job), KINEMA_ERROR_IO);
    EXPECT(kinema_job_error(job)[0] != '\0');
    EXPECT_STATUS(kinema_job_result(job, &result), KINEMA_ERROR_WRONG_STATE);
    kinema_job_free(job);
    p.output_path = path;

    /* Freed while running: cancels and waits, leaving no file. */
    EXPECT_STATUS(kinema_job_start(model, &p, &job), KINEMA_OK);
    kinema_job_free(job);
    EXPECT(!file_exists(path));

    /* kinema_job_wait from the job's own callback would never return: an error instead. */
    memset(&state, 0, sizeof state);
    p.output_path = NULL;
    p.progress_callback = wait_inside_callback;
    p.progress_user_data = &state;
    /* *out_job is set before the job's thread starts: the callback may read it at once. */
    EXPECT_STATUS(kinema_job_start(model, &p, &state.job), KINEMA_OK);
    job = state.job;
    EXPECT_STATUS(kinema_job_wait(job), KINEMA_OK);
    EXPECT(state.done && state.wait_status == KINEMA_ERROR_WRONG_STATE);
    kinema_job_free(job);

    /* kinema_job_free from the job's own callback: cancels, and no callback follows. */
    memset(&state, 0, sizeof state);
    p.progress_callback = free_inside_callback;
    EXPECT_STATUS(kinema_job_start(model, &p, &state.job), KINEMA_OK);
    job = state.job;
    for (i = 0; i < 6000 && !state.freed; i++) sleep_seconds(0.01); /* up to 60 s: valgrind is slow */
    sleep_seconds(0.3);
    EXPECT(state.freed && state.calls_after_free == 0);
    EXPECT_STATUS(kinema_job_status(job), KINEMA_ERROR_INVALID_ARGUMENT);
}

/* MARK: - A model freed while its job runs */

static volatile int model_log_calls = 0;
static void count_log(int32_t level, const char *message, void *user_data) {
    (void)level;
    (void)message;
    (void)user_data;
    model_log_calls++;
}

static void model_freed_under_job(void) {
    kinema_model *model = NULL;
    kinema_model_params mp = kinema_model_default_params();
    kinema_generate_params p = slow_params();
    kinema_job *job = NULL, *other = NULL;
    kinema_result result = kinema_result_init();
    int calls_at_free;
    mp.log_callback = count_log;
    mp.log_level = KINEMA_LOG_DEBUG;
    EXPECT_STATUS(kinema_model_load(model_dir, &mp, &model), KINEMA_OK);
    EXPECT_STATUS(kinema_job_start(model, &p, &job), KINEMA_OK);
    kinema_model_free(model);
    calls_at_free = model_log_calls;
    EXPECT_STATUS(kinema_job_start(model, &p, &other), KINEMA_ERROR_INVALID_ARGUMENT);
    EXPECT(other == NULL);
    EXPECT_STATUS(kinema_job_wait(job), KINEMA_OK);
    EXPECT_STATUS(kinema_job_result(job, &result), KINEMA_OK);
    EXPECT(model_log_calls == calls_at_free);
    kinema_job_free(job);
}

int main(int argc, char **argv) {
    kinema_model *model = NULL;
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: hostile_test MODEL_DIR TEMP_DIR [INSTALLED_DEFAULT_MODEL_DIR]\n");
        return 2;
    }
    model_dir = argv[1];
    temp_dir = argv[2];
    default_model_dir = argc == 4 ? argv[3] : NULL;

    library_functions();
    loading();
    EXPECT_STATUS(kinema_model_load(model_dir, NULL, &model), KINEMA_OK);
    if (model != NULL) {
        model_calls(model);
        bad_parameters(model);
        wrong_order(model);
    }
    kinema_model_free(model);
    model_freed_under_job();

    printf("hostile: %d checks, %d failures\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
