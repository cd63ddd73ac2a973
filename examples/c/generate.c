/*
 * generate: make a video from a prompt with libkinema.
 *
 *     cc generate.c $(pkg-config --cflags --libs kinema) -o generate
 *     ./generate -m /models/Wan2.1-T2V-1.3B-Diffusers -o fox.mp4 "a red fox running through snow"
 *     ./generate -o two.mp4 -c "2:A close-up of a red face that smiles." -b "1:A close-up of a red face looking surprised." \
 *                -c "1.5:A wide shot of a red figure jumping."
 *     ./generate -i start.png -o from-image.mp4 "A red face that smiles."
 *
 * Shows a progress line while the job runs; Ctrl-C cancels the job cleanly (no partial
 * output file) and exits with status 130. Exit status 0 on success, 1 on any other error,
 * 2 for bad usage.
 */
#define _POSIX_C_SOURCE 200809L /* sigaction */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kinema.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: generate [options] PROMPT\n"
            "       generate [options] -c SECONDS:PROMPT [-c SECONDS:PROMPT ...]\n"
            "  -m DIR     model directory (default: $KINEMA_MODEL, else the Kinema-Tiny installed with the library)\n"
            "  -o PATH    output: .mp4, .safetensors, or a directory/ for PNG frames\n"
            "  -n TEXT    negative prompt\n"
            "  -W PIXELS  width          -H PIXELS  height\n"
            "  -f COUNT   frames (4k+1)  -d SECONDS clip length instead of -f\n"
            "  -r FPS     frame rate     -s STEPS   denoising steps\n"
            "  -g SCALE   guidance       -S SEED    seed (default: random)\n"
            "  -t COUNT   threads        -q         no progress line\n"
            "  -c SECONDS:PROMPT  one shot of a clip of shots, in order, each from its own prompt,\n"
            "             cut on the frame where the shots before it end (instead of PROMPT)\n"
            "  -b SECONDS:PROMPT  a beat: from SECONDS into the shot before it (or the clip) on, the\n"
            "             frames follow PROMPT, without a cut\n"
            "  -i IMAGE   start from this picture (PNG, JPEG, ...): it becomes the first frame\n");
}

/* A SIGINT only sets this flag: kinema_job_cancel takes locks, so it is not
   async-signal-safe. The main loop wakes every 100 ms and does the cancelling. */
static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int signal_number) {
    (void)signal_number;
    interrupted = 1;
}

/* Whether the progress line is on screen (a message then starts on a new line). Only the
   main thread prints it; log messages come from the job's thread. */
static volatile int progress_shown = 0;

static void on_log(int32_t level, const char *message, void *user_data) {
    (void)user_data;
    if (level >= KINEMA_LOG_WARNING) fprintf(stderr, "%skinema: %s\n", progress_shown ? "\n" : "", message);
}

static int parse_int(const char *text, const char *option, int32_t *out) {
    char *end = NULL;
    long value;
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < INT32_MIN || value > INT32_MAX) {
        fprintf(stderr, "generate: %s expects an integer, got \"%s\"\n", option, text);
        return 0;
    }
    *out = (int32_t)value;
    return 1;
}

static int parse_double(const char *text, const char *option, double *out) {
    char *end = NULL;
    errno = 0;
    *out = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0') {
        fprintf(stderr, "generate: %s expects a number, got \"%s\"\n", option, text);
        return 0;
    }
    return 1;
}

/* "SECONDS:PROMPT" → the seconds, and the prompt pointing into the argument string. */
static int parse_timed(const char *option, const char *text, double *seconds, const char **prompt) {
    char *end = NULL;
    errno = 0;
    *seconds = strtod(text, &end);
    if (errno != 0 || end == text || *end != ':') {
        fprintf(stderr, "generate: %s expects SECONDS:PROMPT, got \"%s\"\n", option, text);
        return 0;
    }
    *prompt = end + 1;
    return 1;
}

int main(int argc, char **argv) {
    static kinema_shot shots[KINEMA_MAX_SHOTS];
    /* Beats of each shot; row KINEMA_MAX_SHOTS holds those of a single PROMPT. */
    static kinema_beat beats[KINEMA_MAX_SHOTS + 1][KINEMA_MAX_BEATS];
    int32_t beat_counts[KINEMA_MAX_SHOTS + 1] = {0};
    int32_t shot_count = 0;
    int row;
    const char *model_path = NULL;
    const char *prompt = NULL;
    int quiet = 0;
    int exit_code = 1;
    int i;
    double number;
    kinema_model *model = NULL;
    kinema_job *job = NULL;
    kinema_status status;
    kinema_model_params model_params = kinema_model_default_params();
    kinema_generate_params params = kinema_generate_default_params();
    kinema_progress progress = kinema_progress_init();
    kinema_result result = kinema_result_init();
    struct sigaction action;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(arg, "-q") == 0) {
            quiet = 1;
            continue;
        } else if (arg[0] != '-' || arg[1] == '\0') {
            if (prompt != NULL) {
                usage(stderr);
                return 2;
            }
            prompt = arg;
            continue;
        }
        if (value == NULL || strlen(arg) != 2) {
            usage(stderr);
            return 2;
        }
        switch (arg[1]) {
        case 'm': model_path = value; break;
        case 'o': params.output_path = value; break;
        case 'n': params.negative_prompt = value; break;
        case 'i': params.image_path = value; break;
        case 'W': ok = parse_int(value, arg, &params.width); break;
        case 'H': ok = parse_int(value, arg, &params.height); break;
        case 'f': ok = parse_int(value, arg, &params.frames); break;
        case 'd': ok = parse_double(value, arg, &params.duration_seconds); break;
        case 'r': ok = parse_double(value, arg, &params.fps); break;
        case 's': ok = parse_int(value, arg, &params.steps); break;
        case 'g':
            ok = parse_double(value, arg, &number);
            params.guidance = (float)number;
            break;
        case 'S': {
            char *end = NULL;
            errno = 0;
            params.seed = strtoull(value, &end, 10);
            ok = errno == 0 && end != value && *end == '\0';
            if (!ok) fprintf(stderr, "generate: -S expects a seed, got \"%s\"\n", value);
            break;
        }
        case 't': ok = parse_int(value, arg, &params.n_threads); break;
        case 'c':
            if (shot_count == KINEMA_MAX_SHOTS) {
                fprintf(stderr, "generate: at most %d shots\n", KINEMA_MAX_SHOTS);
                return 2;
            }
            ok = parse_timed(arg, value, &shots[shot_count].duration_seconds, &shots[shot_count].prompt);
            shot_count++;
            break;
        case 'b':
            row = shot_count > 0 ? shot_count - 1 : KINEMA_MAX_SHOTS;
            if (beat_counts[row] == KINEMA_MAX_BEATS) {
                fprintf(stderr, "generate: at most %d beats in a shot\n", KINEMA_MAX_BEATS);
                return 2;
            }
            ok = parse_timed(arg, value, &beats[row][beat_counts[row]].at_seconds, &beats[row][beat_counts[row]].prompt);
            beat_counts[row]++;
            break;
        default:
            usage(stderr);
            return 2;
        }
        if (!ok) return 2;
        i++;
    }
    if ((prompt == NULL) == (shot_count == 0)) {
        usage(stderr);
        return 2;
    }
    if (shot_count > 0 && beat_counts[KINEMA_MAX_SHOTS] > 0) {
        fprintf(stderr, "generate: a -b before the first -c belongs to no shot\n");
        return 2;
    }
    params.prompt = prompt;
    params.shots = shot_count > 0 ? shots : NULL;
    params.shot_count = shot_count;
    for (i = 0; i < shot_count; i++) {
        shots[i].beats = beat_counts[i] > 0 ? beats[i] : NULL;
        shots[i].beat_count = beat_counts[i];
    }
    params.beats = beat_counts[KINEMA_MAX_SHOTS] > 0 ? beats[KINEMA_MAX_SHOTS] : NULL;
    params.beat_count = beat_counts[KINEMA_MAX_SHOTS];
    params.log_callback = on_log;
    model_params.log_callback = on_log;

    memset(&action, 0, sizeof action);
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);

    status = kinema_model_load(model_path, &model_params, &model);
    if (status != KINEMA_OK) {
        fprintf(stderr, "generate: cannot load the model: %s (%s)\n", kinema_last_error(),
                kinema_status_string(status));
        return 1;
    }

    status = kinema_job_start(model, &params, &job);
    if (status != KINEMA_OK) {
        fprintf(stderr, "generate: %s (%s)\n", kinema_last_error(), kinema_status_string(status));
        kinema_model_free(model);
        return 1;
    }

    while ((status = kinema_job_wait_timeout(job, 0.1)) == KINEMA_RUNNING) {
        if (interrupted) {
            kinema_job_cancel(job);
            interrupted = 0;
        }
        if (!quiet && kinema_job_progress(job, &progress) == KINEMA_OK && progress.total_steps > 0) {
            fprintf(stderr, "\r%-14s %3d/%-3d %5.1f%%  %6.1f s elapsed", kinema_phase_name(progress.phase),
                    progress.step, progress.total_steps, 100.0 * progress.fraction, progress.elapsed_seconds);
            if (progress.eta_seconds >= 0) fprintf(stderr, ", %6.1f s left", progress.eta_seconds);
            fflush(stderr);
            progress_shown = 1;
        }
    }
    if (progress_shown) fprintf(stderr, "\n");

    if (status == KINEMA_OK && kinema_job_result(job, &result) == KINEMA_OK) {
        printf("%s: %dx%d, %d frames at %.2f fps, %d steps, seed %llu, %.2f s\n",
               result.output_path ? result.output_path : "(not written)", result.width, result.height,
               result.frames, result.fps, result.steps, (unsigned long long)result.seed,
               result.timings.total);
        if (result.notes[0] != '\0') printf("note: %s\n", result.notes);
        exit_code = 0;
    } else if (status == KINEMA_ERROR_CANCELLED) {
        fprintf(stderr, "generate: cancelled\n");
        exit_code = 130;
    } else {
        fprintf(stderr, "generate: %s (%s)\n", kinema_job_error(job), kinema_status_string(status));
    }

    kinema_job_free(job);
    kinema_model_free(model);
    return exit_code;
}
