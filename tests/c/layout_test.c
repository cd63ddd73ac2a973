/* Checks that the structs as this C compiler lays them out from kinema.h match the library's
   own layout (kinema_struct_layout): every struct's size, and every field's name, offset and
   size, in order, with no field missing on either side. Also checks the version macros
   against kinema_version(). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <kinema.h>

struct field {
    const char *name;
    size_t offset;
    size_t size;
};

#define FIELD(type, member) { #member, offsetof(type, member), sizeof(((type *)0)->member) }

static const struct field model_params_fields[] = {
    FIELD(kinema_model_params, struct_size),
    FIELD(kinema_model_params, n_threads),
    FIELD(kinema_model_params, log_callback),
    FIELD(kinema_model_params, log_user_data),
    FIELD(kinema_model_params, log_level),
    FIELD(kinema_model_params, keep_stored_precision),
    FIELD(kinema_model_params, vae_memory_budget_bytes),
};

static const struct field generate_params_fields[] = {
    FIELD(kinema_generate_params, struct_size),
    FIELD(kinema_generate_params, prompt),
    FIELD(kinema_generate_params, negative_prompt),
    FIELD(kinema_generate_params, width),
    FIELD(kinema_generate_params, height),
    FIELD(kinema_generate_params, frames),
    FIELD(kinema_generate_params, duration_seconds),
    FIELD(kinema_generate_params, fps),
    FIELD(kinema_generate_params, steps),
    FIELD(kinema_generate_params, guidance),
    FIELD(kinema_generate_params, flow_shift),
    FIELD(kinema_generate_params, sampler),
    FIELD(kinema_generate_params, seed),
    FIELD(kinema_generate_params, initial_latents),
    FIELD(kinema_generate_params, initial_latents_shape),
    FIELD(kinema_generate_params, initial_latents_rank),
    FIELD(kinema_generate_params, initial_latents_path),
    FIELD(kinema_generate_params, output_path),
    FIELD(kinema_generate_params, output_format),
    FIELD(kinema_generate_params, crf),
    FIELD(kinema_generate_params, return_frames),
    FIELD(kinema_generate_params, n_threads),
    FIELD(kinema_generate_params, progress_callback),
    FIELD(kinema_generate_params, progress_user_data),
    FIELD(kinema_generate_params, log_callback),
    FIELD(kinema_generate_params, log_user_data),
    FIELD(kinema_generate_params, log_level),
    FIELD(kinema_generate_params, shots),
    FIELD(kinema_generate_params, shot_count),
    FIELD(kinema_generate_params, beats),
    FIELD(kinema_generate_params, beat_count),
    FIELD(kinema_generate_params, image_path),
    FIELD(kinema_generate_params, image_rgb),
    FIELD(kinema_generate_params, image_width),
    FIELD(kinema_generate_params, image_height),
};

static const struct field shot_fields[] = {
    FIELD(kinema_shot, prompt),
    FIELD(kinema_shot, duration_seconds),
    FIELD(kinema_shot, beats),
    FIELD(kinema_shot, beat_count),
};

static const struct field beat_fields[] = {
    FIELD(kinema_beat, at_seconds),
    FIELD(kinema_beat, prompt),
};

static const struct field progress_fields[] = {
    FIELD(kinema_progress, struct_size),
    FIELD(kinema_progress, phase),
    FIELD(kinema_progress, step),
    FIELD(kinema_progress, total_steps),
    FIELD(kinema_progress, fraction),
    FIELD(kinema_progress, elapsed_seconds),
    FIELD(kinema_progress, eta_seconds),
};

static const struct field timings_fields[] = {
    FIELD(kinema_timings, text_encoding),
    FIELD(kinema_timings, denoising),
    FIELD(kinema_timings, decoding),
    FIELD(kinema_timings, writing),
    FIELD(kinema_timings, total),
};

static const struct field result_fields[] = {
    FIELD(kinema_result, struct_size),
    FIELD(kinema_result, owner),
    FIELD(kinema_result, output_path),
    FIELD(kinema_result, output_format),
    FIELD(kinema_result, width),
    FIELD(kinema_result, height),
    FIELD(kinema_result, frames),
    FIELD(kinema_result, fps),
    FIELD(kinema_result, steps),
    FIELD(kinema_result, guidance),
    FIELD(kinema_result, flow_shift),
    FIELD(kinema_result, sampler),
    FIELD(kinema_result, seed),
    FIELD(kinema_result, timings),
    FIELD(kinema_result, notes),
    FIELD(kinema_result, video),
    FIELD(kinema_result, video_count),
};

static const struct field model_info_fields[] = {
    FIELD(kinema_model_info, struct_size),
    FIELD(kinema_model_info, path),
    FIELD(kinema_model_info, width),
    FIELD(kinema_model_info, height),
    FIELD(kinema_model_info, frames),
    FIELD(kinema_model_info, fps),
    FIELD(kinema_model_info, steps),
    FIELD(kinema_model_info, guidance),
    FIELD(kinema_model_info, flow_shift),
    FIELD(kinema_model_info, sampler),
    FIELD(kinema_model_info, negative_prompt),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int failures = 0;

static void check_struct(const char *type, size_t size, const struct field *fields, size_t count) {
    const char *name = NULL;
    uint64_t offset = 0, lib_size = 0;
    size_t i;
    if (kinema_struct_layout(type, -1, &name, &offset, &lib_size) != KINEMA_OK) {
        printf("FAIL %s: the library does not know it: %s\n", type, kinema_last_error());
        failures++;
        return;
    }
    if (lib_size != size || strcmp(name, type) != 0) {
        printf("FAIL %s: C size %zu, library %s size %llu\n", type, size, name, (unsigned long long)lib_size);
        failures++;
    }
    for (i = 0; i < count; i++) {
        if (kinema_struct_layout(type, (int32_t)i, &name, &offset, &lib_size) != KINEMA_OK) {
            printf("FAIL %s.%s: the library has only %zu fields\n", type, fields[i].name, i);
            failures++;
            return;
        }
        if (strcmp(name, fields[i].name) != 0 || offset != fields[i].offset || lib_size != fields[i].size) {
            printf("FAIL %s field %zu: C %s at %zu (%zu bytes), library %s at %llu (%llu bytes)\n", type, i,
                   fields[i].name, fields[i].offset, fields[i].size, name, (unsigned long long)offset,
                   (unsigned long long)lib_size);
            failures++;
        }
    }
    if (kinema_struct_layout(type, (int32_t)count, &name, &offset, &lib_size) == KINEMA_OK) {
        printf("FAIL %s: the library has a field %s that this test does not know\n", type, name);
        failures++;
    }
}

#define CHECK(type, fields) check_struct(#type, sizeof(type), fields, COUNT(fields))

int main(void) {
    char expected[64];
    CHECK(kinema_model_params, model_params_fields);
    CHECK(kinema_generate_params, generate_params_fields);
    CHECK(kinema_shot, shot_fields);
    CHECK(kinema_beat, beat_fields);
    CHECK(kinema_progress, progress_fields);
    CHECK(kinema_timings, timings_fields);
    CHECK(kinema_result, result_fields);
    CHECK(kinema_model_info, model_info_fields);
    if (kinema_struct_layout("kinema_nothing", -1, NULL, NULL, NULL) != KINEMA_ERROR_INVALID_ARGUMENT) {
        printf("FAIL an unknown struct name is not an error\n");
        failures++;
    }
    snprintf(expected, sizeof expected, "%d.%d.%d", KINEMA_VERSION_MAJOR, KINEMA_VERSION_MINOR,
             KINEMA_VERSION_PATCH);
    if (strcmp(expected, kinema_version()) != 0) {
        printf("FAIL kinema_version() is %s, the header says %s\n", kinema_version(), expected);
        failures++;
    }
    if (failures == 0) printf("layout: 8 structs match the library\n");
    return failures == 0 ? 0 : 1;
}
