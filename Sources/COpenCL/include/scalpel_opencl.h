// The OpenCL API as a table of function pointers filled by dlopen/dlsym at run time.
//
// Why: a binary linked with -lOpenCL dies before main (exit 127) on a machine without
// libOpenCL.so.1, so it could never fall back to the CPU-Swift backend. The headers from
// opencl-c-headers are used at build time only; every pointer type is derived from the real
// prototype with __typeof__, so there is no link-time reference to the library.
#ifndef SCALPEL_OPENCL_H
#define SCALPEL_OPENCL_H

#define CL_TARGET_OPENCL_VERSION 120
#define CL_USE_DEPRECATED_OPENCL_1_2_APIS
#include <CL/cl.h>
#include <stddef.h>

// X-macro list of every entry point Scalpel uses.
#define SCALPEL_CL_FUNCTIONS(X) \
  X(clGetPlatformIDs) \
  X(clGetPlatformInfo) \
  X(clGetDeviceIDs) \
  X(clGetDeviceInfo) \
  X(clCreateContext) \
  X(clReleaseContext) \
  X(clCreateCommandQueue) \
  X(clReleaseCommandQueue) \
  X(clCreateProgramWithSource) \
  X(clCreateProgramWithBinary) \
  X(clBuildProgram) \
  X(clGetProgramInfo) \
  X(clGetProgramBuildInfo) \
  X(clReleaseProgram) \
  X(clCreateKernel) \
  X(clReleaseKernel) \
  X(clSetKernelArg) \
  X(clGetKernelWorkGroupInfo) \
  X(clCreateBuffer) \
  X(clCreateSubBuffer) \
  X(clReleaseMemObject) \
  X(clEnqueueWriteBuffer) \
  X(clEnqueueReadBuffer) \
  X(clEnqueueCopyBuffer) \
  X(clEnqueueFillBuffer) \
  X(clEnqueueNDRangeKernel) \
  X(clFinish) \
  X(clFlush) \
  X(clWaitForEvents) \
  X(clReleaseEvent) \
  X(clGetEventProfilingInfo) \
  X(clGetEventInfo) \
  X(clCreateUserEvent) \
  X(clSetUserEventStatus)

#define SCALPEL_CL_MEMBER(name) __typeof__(&name) name;

/// Every OpenCL entry point Scalpel calls, resolved from the loaded library.
typedef struct ScalpelCLAPI {
  void *handle;
  SCALPEL_CL_FUNCTIONS(SCALPEL_CL_MEMBER)
} ScalpelCLAPI;

#undef SCALPEL_CL_MEMBER

/// Opens `library` (for example "libOpenCL.so.1") with dlopen and resolves every entry point.
/// Returns 0 on success. On failure returns non-zero, leaves the library closed and writes a
/// human-readable reason (dlerror's text, or the missing symbol) into `error`.
int scalpel_cl_open(ScalpelCLAPI *api, const char *library, char *error, size_t error_size);

#endif
