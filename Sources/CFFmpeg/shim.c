#include "CFFmpeg.h"
#include <errno.h>

int cff_averror(int posix_errno) { return AVERROR(posix_errno); }
int cff_averror_eof(void) { return AVERROR_EOF; }
int cff_averror_eagain(void) { return AVERROR(EAGAIN); }
int cff_averror_encoder_not_found(void) { return AVERROR_ENCODER_NOT_FOUND; }

void cff_err2str(int errnum, char *buf, size_t size) {
    if (buf == NULL || size == 0) return;
    if (av_strerror(errnum, buf, size) < 0) {
        snprintf(buf, size, "unknown FFmpeg error %d", errnum);
    }
    buf[size - 1] = '\0';
}

int64_t cff_nopts_value(void) { return AV_NOPTS_VALUE; }
