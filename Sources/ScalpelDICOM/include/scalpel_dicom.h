// Scalpel's DICOM plugin: DCMTK behind one C entry point, built as its own shared library
// (libScalpelDICOM.so) so that the scalpel binary neither links DCMTK nor needs it to start;
// CScalpelImageCodecs loads it when a DICOM file is read.
#ifndef SCALPEL_DICOM_H
#define SCALPEL_DICOM_H

#include <stddef.h>
#include "scalpel_image_codecs.h"

#ifdef __cplusplus
extern "C" {
#endif

/// See `scalpel_dicom_decode` in scalpel_image_codecs.h.
int scalpel_dicom_plugin_decode(const char *path, int use_window, double center, double width, scalpel_image *image,
                                char *error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif
