// Image decoders, loaded at run time: the scalpel binary links none of them, so it starts and
// trains on tables, arrays and signals where they are not installed, and an image folder that
// needs one says what to install. PNG is decoded by libpng's simplified API (libpng16.so.16,
// Debian libpng16-16), JPEG by libjpeg-turbo's TurboJPEG API (libturbojpeg.so.0, Debian
// libturbojpeg0), DICOM by DCMTK behind Scalpel's own small plugin (libScalpelDICOM.so, built
// by the package where DCMTK's headers are installed: Debian libdcmtk-dev). None of these
// entry points longjmp or throw across the boundary: every failure is a return code and a
// message.
#ifndef SCALPEL_IMAGE_CODECS_H
#define SCALPEL_IMAGE_CODECS_H

#include <stddef.h>

/// A decoded image: `channels` (1 grey, 3 RGB) planes of `height` × `width` values in [0, 1],
/// channel-major, rows top-down. Free `pixels` with `scalpel_image_free`.
typedef struct {
    float *pixels;
    int width;
    int height;
    int channels;
    /// Bits per sample in the file (8 or 16 for PNG and JPEG, DICOM's Bits Stored).
    int bits;
} scalpel_image;

/// Opens libpng (0, or -1 with a reason naming the package to install in `error`).
int scalpel_png_load(char *error, size_t error_size);
/// Opens TurboJPEG (0, or -1 with a reason in `error`).
int scalpel_jpeg_load(char *error, size_t error_size);
/// Opens the DICOM plugin: `library`, or libScalpelDICOM.so beside the running executable, then on
/// the loader path (0, or -1 with a reason in `error`).
int scalpel_dicom_load(const char *library, char *error, size_t error_size);

/// Decodes a PNG of any colour type and depth (grey, grey+alpha, RGB, RGBA, palette; 1–16 bits):
/// alpha is composited onto black, 16-bit samples keep their full range. 0, or -1 with the
/// decoder's reason in `error`.
int scalpel_png_decode(const unsigned char *data, size_t size, scalpel_image *image, char *error, size_t error_size);
/// Decodes a baseline or progressive JPEG, grey or colour. 0, or -1 with the reason in `error`
/// (a truncated or corrupt stream is an error, not a warning).
int scalpel_jpeg_decode(const unsigned char *data, size_t size, scalpel_image *image, char *error, size_t error_size);
/// Decodes the first frame of a DICOM file: the modality rescale (slope, intercept) applied, then
/// the window `center`/`width` when `use_window` is 1, else the file's first window, else the
/// frame's minimum to maximum; MONOCHROME1 is inverted so that brighter is denser, as it is shown.
/// 0, or -1 with the reason in `error` (never a header value).
int scalpel_dicom_decode(const char *path, int use_window, double center, double width, scalpel_image *image,
                         char *error, size_t error_size);

/// Frees the pixels of a decoded image.
void scalpel_image_free(scalpel_image *image);

#endif
