#include "scalpel_opencl.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

int scalpel_cl_open(ScalpelCLAPI *api, const char *library, char *error, size_t error_size) {
  memset(api, 0, sizeof *api);
  void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = dlerror();
    snprintf(error, error_size, "%s", why ? why : "dlopen failed");
    return 1;
  }
#define SCALPEL_CL_RESOLVE(name)                                                   \
  api->name = (__typeof__(&name))dlsym(handle, #name);                             \
  if (!api->name) {                                                                \
    snprintf(error, error_size, "%s has no symbol %s (an OpenCL 1.2 loader is required)", \
             library, #name);                                                      \
    dlclose(handle);                                                               \
    memset(api, 0, sizeof *api);                                                   \
    return 2;                                                                      \
  }
  SCALPEL_CL_FUNCTIONS(SCALPEL_CL_RESOLVE)
#undef SCALPEL_CL_RESOLVE
  api->handle = handle;
  return 0;
}
