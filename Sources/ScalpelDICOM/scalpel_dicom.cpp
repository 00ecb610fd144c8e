// DICOM decoding with DCMTK (dcmdata, dcmimgle, dcmimage and the JPEG, JPEG-LS and RLE codecs).
// Only pixel data and the attributes that describe it are read; no header value (patient,
// dates, institution) ever leaves this file, not even in an error message.
#include "scalpel_dicom.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmimage/diregist.h>
#include <dcmtk/dcmimgle/dcmimage.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace {

std::once_flag registered;

void registerCodecs() {
    // DCMTK's own log would print warnings that may quote header values: errors come back here.
    OFLog::configure(OFLogger::OFF_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();    // JPEG baseline, extended, lossless
    DJLSDecoderRegistration::registerCodecs();  // JPEG-LS
    DcmRLEDecoderRegistration::registerCodecs(); // RLE
}

int fail(char *error, size_t size, const char *what, const char *reason) {
    std::snprintf(error, size, "%s (%s)", what, reason);
    return -1;
}

}  // namespace

extern "C" int scalpel_dicom_plugin_decode(const char *path, int use_window, double center, double width, scalpel_image *image,
                                           char *error, size_t error_size) {
    std::memset(image, 0, sizeof *image);
    try {
        std::call_once(registered, registerCodecs);
        DcmFileFormat file;
        OFCondition status = file.loadFile(path);
        if (status.bad()) return fail(error, error_size, "not a readable DICOM file", status.text());
        DcmDataset *dataset = file.getDataset();
        if (!dataset->tagExists(DCM_PixelData)) return fail(error, error_size, "not a DICOM image", "it has no pixel data");
        // The first frame only: a multi-frame file is one sample.
        DicomImage dicom(&file, dataset->getOriginalXfer(), CIF_UsePartialAccessToPixelData, 0, 1);
        if (dicom.getStatus() != EIS_Normal) {
            return fail(error, error_size, "cannot decode the DICOM pixel data", DicomImage::getString(dicom.getStatus()));
        }
        const unsigned long columns = dicom.getWidth(), rows = dicom.getHeight();
        if (columns == 0 || rows == 0 || columns > 65535 || rows > 65535) {
            return fail(error, error_size, "cannot decode the DICOM pixel data", "its size is out of range");
        }
        const size_t plane = static_cast<size_t>(columns) * rows;
        if (dicom.isMonochrome()) {
            // The modality rescale (slope, intercept) is applied by DCMTK before the window.
            if (use_window) {
                if (!(width >= 1)) return fail(error, error_size, "bad window", "its width must be at least 1");
                dicom.setWindow(center, width);
            } else if (dicom.getWindowCount() > 0) {
                dicom.setWindow(0);
            } else {
                dicom.setMinMaxWindow();
            }
            const void *data = dicom.getOutputData(16, 0);
            if (!data) return fail(error, error_size, "cannot render the DICOM image", DicomImage::getString(dicom.getStatus()));
            image->pixels = static_cast<float *>(std::malloc(plane * sizeof(float)));
            if (!image->pixels) return fail(error, error_size, "cannot decode the DICOM image", "out of memory");
            const Uint16 *samples = static_cast<const Uint16 *>(data);
            for (size_t i = 0; i < plane; i++) image->pixels[i] = samples[i] / 65535.0f;
            image->channels = 1;
        } else {
            const void *data = dicom.getOutputData(8, 0, 1);  // planar: R plane, G plane, B plane
            if (!data) return fail(error, error_size, "cannot render the DICOM image", DicomImage::getString(dicom.getStatus()));
            image->pixels = static_cast<float *>(std::malloc(3 * plane * sizeof(float)));
            if (!image->pixels) return fail(error, error_size, "cannot decode the DICOM image", "out of memory");
            const Uint8 *samples = static_cast<const Uint8 *>(data);
            for (size_t i = 0; i < 3 * plane; i++) image->pixels[i] = samples[i] / 255.0f;
            image->channels = 3;
        }
        image->width = static_cast<int>(columns);
        image->height = static_cast<int>(rows);
        image->bits = dicom.getDepth();
        return 0;
    } catch (...) {
        std::free(image->pixels);
        image->pixels = nullptr;
        return fail(error, error_size, "cannot decode the DICOM file", "DCMTK failed");
    }
}
