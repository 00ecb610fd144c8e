#include "scalpel_image_codecs.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// libpng's simplified-API control structure (png.h, PNG_IMAGE_VERSION 1): a stable ABI.
typedef struct {
    void *opaque;
    uint32_t version, width, height, format, flags, colormap_entries, warning_or_error;
    char message[64];
} png_image_v1;
enum { PNG_VERSION_1 = 1, PNG_FLAG_ALPHA = 1, PNG_FLAG_COLOR = 2, PNG_FLAG_LINEAR = 4, PNG_ERROR = 2 };

static int (*png_begin)(png_image_v1 *, const void *, size_t);
static int (*png_finish)(png_image_v1 *, const void *, void *, int32_t, void *);
static void (*png_free)(png_image_v1 *);

// TurboJPEG (turbojpeg.h, libjpeg-turbo 1.4 and later).
enum { TJPF_RGB = 0, TJPF_GRAY = 6, TJCS_GRAY = 2, TJFLAG_ACCURATEDCT = 4096 };
static void *(*tj_init)(void);
static int (*tj_header)(void *, const unsigned char *, unsigned long, int *, int *, int *, int *);
static int (*tj_decompress)(void *, const unsigned char *, unsigned long, unsigned char *, int, int, int, int, int);
static char *(*tj_error)(void *);
static int (*tj_destroy)(void *);

// Scalpel's DICOM plugin (Sources/ScalpelDICOM).
static int (*dicom_decode)(const char *, int, double, double, scalpel_image *, char *, size_t);

static void *open_first(const char *const *names) {
    for (; *names; names++) {
        void *handle = dlopen(*names, RTLD_NOW | RTLD_LOCAL);
        if (handle) return handle;
    }
    return NULL;
}

static int resolve(void *library, const char *library_name, const char *const *names, void ***slots, char *error, size_t size) {
    for (size_t i = 0; names[i]; i++) {
        *slots[i] = dlsym(library, names[i]);
        if (*slots[i] == NULL) {
            snprintf(error, size, "%s does not export %s (too old a version)", library_name, names[i]);
            return -1;
        }
    }
    return 0;
}

/// Opens the first of `libraries` that loads and resolves `names` into `slots`; `install` says
/// what to install when none loads. 0, or -1 with the reason in `error`.
static int load(const char *const *libraries, const char *library_name, const char *install, const char *const *names, void ***slots,
                char *error, size_t size) {
    void *handle = open_first(libraries);
    if (!handle) {
        snprintf(error, size, "%s", install);
        return -1;
    }
    return resolve(handle, library_name, names, slots, error, size);
}

int scalpel_png_load(char *error, size_t error_size) {
    if (png_free) return 0;
    static const char *const libraries[] = {"libpng16.so.16", "libpng16.so", NULL};
    static const char *const names[] = {"png_image_begin_read_from_memory", "png_image_finish_read", "png_image_free", NULL};
    void **slots[] = {(void **)&png_begin, (void **)&png_finish, (void **)&png_free};
    return load(libraries, "libpng16", "PNG images need libpng: install it (apt-get install libpng16-16)", names, slots, error, error_size);
}

int scalpel_jpeg_load(char *error, size_t error_size) {
    if (tj_destroy) return 0;
    static const char *const libraries[] = {"libturbojpeg.so.0", "libturbojpeg.so", NULL};
    static const char *const names[] = {"tjInitDecompress", "tjDecompressHeader3", "tjDecompress2", "tjGetErrorStr2", "tjDestroy", NULL};
    void **slots[] = {(void **)&tj_init, (void **)&tj_header, (void **)&tj_decompress, (void **)&tj_error, (void **)&tj_destroy};
    return load(libraries, "libturbojpeg", "JPEG images need libjpeg-turbo's TurboJPEG library: install it (apt-get install libturbojpeg0)",
                names, slots, error, error_size);
}

int scalpel_dicom_load(const char *library, char *error, size_t error_size) {
    if (dicom_decode) return 0;
    void *handle = NULL;
    if (library) {
        handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    } else {
        // Beside the executable (where `swift build` puts the plugin), then the loader path.
        char path[PATH_MAX];
        ssize_t length = readlink("/proc/self/exe", path, sizeof path - 32);
        if (length > 0) {
            path[length] = 0;
            char *slash = strrchr(path, '/');
            if (slash) {
                strcpy(slash + 1, "libScalpelDICOM.so");
                handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            }
        }
        if (!handle) handle = dlopen("libScalpelDICOM.so", RTLD_NOW | RTLD_LOCAL);
    }
    if (!handle) {
        const char *reason = dlerror();
        snprintf(error, error_size,
                 "DICOM files need DCMTK and Scalpel's DICOM plugin (libScalpelDICOM.so, %s): install DCMTK "
                 "(apt-get install libdcmtk-dev) and build Scalpel again, or run scripts/setup.sh",
                 reason ? reason : "not found");
        return -1;
    }
    static const char *const names[] = {"scalpel_dicom_plugin_decode", NULL};
    void **slots[] = {(void **)&dicom_decode};
    return resolve(handle, "libScalpelDICOM", names, slots, error, error_size);
}

static int allocate(scalpel_image *image, int width, int height, int channels, char *error, size_t size) {
    image->width = width;
    image->height = height;
    image->channels = channels;
    image->pixels = malloc((size_t)width * height * channels * sizeof(float));
    if (!image->pixels) {
        snprintf(error, size, "out of memory for a %d×%d image", width, height);
        return -1;
    }
    return 0;
}

int scalpel_png_decode(const unsigned char *data, size_t size, scalpel_image *image, char *error, size_t error_size) {
    memset(image, 0, sizeof *image);
    if (!png_free && scalpel_png_load(error, error_size) != 0) return -1;
    png_image_v1 png;
    memset(&png, 0, sizeof png);
    png.version = PNG_VERSION_1;
    if (!png_begin(&png, data, size)) {
        snprintf(error, error_size, "not a readable PNG (%s)", png.message);
        png_free(&png);
        return -1;
    }
    int colour = (png.format & PNG_FLAG_COLOR) != 0, wide = (png.format & PNG_FLAG_LINEAR) != 0;
    int channels = colour ? 3 : 1;
    // 16-bit files are read as 16-bit (libpng's "linear" formats keep the samples as stored when
    // the file gives no gamma), 8-bit and smaller ones as 8-bit; no alpha: composited onto black.
    png.format = (colour ? PNG_FLAG_COLOR : 0) | (wide ? PNG_FLAG_LINEAR : 0);
    size_t samples = (size_t)png.width * png.height * channels;
    if (png.width == 0 || png.height == 0 || png.width > 65535 || png.height > 65535) {
        snprintf(error, error_size, "a PNG of %u×%u pixels is out of range", png.width, png.height);
        png_free(&png);
        return -1;
    }
    void *buffer = calloc(samples, wide ? 2 : 1);
    if (!buffer) {
        snprintf(error, error_size, "out of memory for a %u×%u image", png.width, png.height);
        png_free(&png);
        return -1;
    }
    if (!png_finish(&png, NULL, buffer, 0, NULL)) {
        snprintf(error, error_size, "corrupt or truncated PNG (%s)", png.message);
        free(buffer);
        png_free(&png);
        return -1;
    }
    if (allocate(image, (int)png.width, (int)png.height, channels, error, error_size) != 0) {
        free(buffer);
        return -1;
    }
    size_t plane = (size_t)png.width * png.height;
    for (size_t p = 0; p < plane; p++) {
        for (int c = 0; c < channels; c++) {
            size_t i = p * channels + c;
            image->pixels[c * plane + p] = wide ? ((uint16_t *)buffer)[i] / 65535.0f : ((uint8_t *)buffer)[i] / 255.0f;
        }
    }
    image->bits = wide ? 16 : 8;
    free(buffer);
    return 0;
}

int scalpel_jpeg_decode(const unsigned char *data, size_t size, scalpel_image *image, char *error, size_t error_size) {
    memset(image, 0, sizeof *image);
    if (!tj_destroy && scalpel_jpeg_load(error, error_size) != 0) return -1;
    void *handle = tj_init();
    if (!handle) {
        snprintf(error, error_size, "TurboJPEG could not start a decoder");
        return -1;
    }
    int width = 0, height = 0, subsampling = 0, colourspace = 0;
    if (tj_header(handle, data, (unsigned long)size, &width, &height, &subsampling, &colourspace) != 0) {
        snprintf(error, error_size, "not a readable JPEG (%s)", tj_error(handle));
        tj_destroy(handle);
        return -1;
    }
    if (width <= 0 || height <= 0 || width > 65535 || height > 65535) {
        snprintf(error, error_size, "a JPEG of %d×%d pixels is out of range", width, height);
        tj_destroy(handle);
        return -1;
    }
    int channels = colourspace == TJCS_GRAY ? 1 : 3;
    unsigned char *buffer = malloc((size_t)width * height * channels);
    if (!buffer) {
        snprintf(error, error_size, "out of memory for a %d×%d image", width, height);
        tj_destroy(handle);
        return -1;
    }
    // A warning (a truncated stream, a bad marker) also returns -1: the image is not trusted.
    if (tj_decompress(handle, data, (unsigned long)size, buffer, width, 0, height, channels == 1 ? TJPF_GRAY : TJPF_RGB,
                      TJFLAG_ACCURATEDCT) != 0) {
        snprintf(error, error_size, "corrupt or truncated JPEG (%s)", tj_error(handle));
        free(buffer);
        tj_destroy(handle);
        return -1;
    }
    tj_destroy(handle);
    if (allocate(image, width, height, channels, error, error_size) != 0) {
        free(buffer);
        return -1;
    }
    size_t plane = (size_t)width * height;
    for (size_t p = 0; p < plane; p++) {
        for (int c = 0; c < channels; c++) image->pixels[c * plane + p] = buffer[p * channels + c] / 255.0f;
    }
    image->bits = 8;
    free(buffer);
    return 0;
}

int scalpel_dicom_decode(const char *path, int use_window, double center, double width, scalpel_image *image,
                         char *error, size_t error_size) {
    memset(image, 0, sizeof *image);
    if (!dicom_decode && scalpel_dicom_load(NULL, error, error_size) != 0) return -1;
    return dicom_decode(path, use_window, center, width, image, error, error_size);
}

void scalpel_image_free(scalpel_image *image) {
    free(image->pixels);
    image->pixels = NULL;
}
