#ifndef KINEMA_CFFMPEG_H
#define KINEMA_CFFMPEG_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

/* FFmpeg's error codes are function-like macros (AVERROR, AVERROR_EOF, av_err2str),
   which Swift cannot import; these functions expose them. */
int cff_averror(int posix_errno);
int cff_averror_eof(void);
int cff_averror_eagain(void);
int cff_averror_encoder_not_found(void);
/* Writes FFmpeg's message for `errnum` into `buf` (always NUL-terminated). */
void cff_err2str(int errnum, char *buf, size_t size);
/* AV_NOPTS_VALUE and AV_TIME_BASE_Q are macros too. */
int64_t cff_nopts_value(void);

#endif
