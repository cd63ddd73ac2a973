/* Compiled as C99, C11 and C++11 with gcc and clang at -Wall -Wextra -pedantic -Werror (see
   run.sh): the installed header must be clean in every one of them. Included twice to check
   the include guard. Not run, only compiled. */
#include <kinema.h>
#include <kinema.h>

static bool on_progress(const kinema_progress *progress, void *user_data) {
    (void)user_data;
    return progress->phase != KINEMA_PHASE_FINISHED;
}

static void on_log(int32_t level, const char *message, void *user_data) {
    (void)level;
    (void)message;
    (void)user_data;
}

int main(void) {
    kinema_model *model = NULL;
    kinema_job *job = NULL;
    kinema_model_params model_params = kinema_model_default_params();
    kinema_generate_params params = kinema_generate_default_params();
    kinema_progress progress = kinema_progress_init();
    kinema_result result = kinema_result_init();
    kinema_model_info info = kinema_model_info_init();
    kinema_timings timings = result.timings;
    kinema_status status = KINEMA_OK;
    kinema_phase phase = KINEMA_PHASE_DENOISING;
    kinema_sampler sampler = KINEMA_SAMPLER_EULER;
    kinema_output_format format = KINEMA_FORMAT_MP4;
    kinema_log_level level = KINEMA_LOG_DEBUG;
    const char *name = NULL;
    uint64_t offset = 0, size = 0;

    model_params.log_callback = on_log;
    params.progress_callback = on_progress;
    params.log_callback = on_log;
    params.seed = KINEMA_SEED_RANDOM;
    params.initial_latents_shape[KINEMA_MAX_LATENT_RANK - 1] = 1;
    params.sampler = sampler;
    params.output_format = format;
    params.log_level = level;
    (void)phase;
    (void)timings;
    (void)kinema_version();
    (void)kinema_status_string(status);
    (void)kinema_last_error();
    (void)kinema_phase_name(KINEMA_PHASE_QUEUED);
    (void)kinema_struct_layout("kinema_result", -1, &name, &offset, &size);
    if (kinema_model_load(NULL, &model_params, &model) == KINEMA_OK) {
        (void)kinema_model_get_info(model, &info);
        (void)kinema_generate(model, &params, &result);
        kinema_result_free(&result);
        if (kinema_job_start(model, &params, &job) == KINEMA_OK) {
            (void)kinema_job_status(job);
            (void)kinema_job_progress(job, &progress);
            (void)kinema_job_cancel(job);
            (void)kinema_job_wait_timeout(job, 0.5);
            (void)kinema_job_wait(job);
            (void)kinema_job_result(job, &result);
            (void)kinema_job_error(job);
            kinema_job_free(job);
        }
        kinema_model_free(model);
    }
    return KINEMA_VERSION_MAJOR + KINEMA_VERSION_MINOR + KINEMA_VERSION_PATCH >= 0 ? 0 : 1;
}
