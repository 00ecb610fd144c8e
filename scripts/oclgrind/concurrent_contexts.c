// Two threads, each with its own OpenCL context, queue, program and buffer on one device, run
// the same kernel at the same time and check every element of their own result. No Scalpel
// code. On a conforming implementation every run is exact; on Oclgrind 21.10 whole work-groups
// of one launch are skipped (their elements keep the zeros written before the launch) when a
// launch in another context runs at the same time: the simulator hands out work-groups from
// one process-wide counter (`static atomic<unsigned> nextGroupIndex` in
// src/core/KernelInvocation.cpp), which every launch resets to 0 and every worker thread of
// every launch increments.
//
// Build: cc -O1 -pthread concurrent_contexts.c -lOpenCL -o concurrent_contexts
// Run:   OCL_ICD_VENDORS=<dir holding only oclgrind.icd> ./concurrent_contexts [serial] [ROUNDS]
//   "serial": a process-wide mutex held from enqueue to the end of the blocking read, so only
//   one launch runs at a time (the workaround); then every round is exact.
// Exit status 0 when every element of every round is right, 1 on a wrong element, 2 on an
// OpenCL error. With Oclgrind 21.10 on 2 cores (4 rounds, a few seconds), one run said:
//   concurrent launches, thread 0: 4 rounds of 64 work-groups, 1600 wrong elements, 25 work-groups never ran
//   concurrent launches, thread 1: 4 rounds of 64 work-groups, 7168 wrong elements, 112 work-groups never ran
// ("serial": 0 and 0; OCLGRIND_NUM_THREADS=1 still loses groups; PoCL: 0 and 0). Scalpel
// serialises every OpenCL call on an Oclgrind platform with one process-wide lock
// (Sources/ScalpelOpenCL/OpenCLCallLock.swift).
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { LOCAL = 64, GROUPS = 64, COUNT = LOCAL * GROUPS, WORK = 64 };

// Each work-item does a little arithmetic, so that a launch lasts long enough to overlap.
static const char *source =
    "__kernel void fill(__global float *out, const float tag, const int work) {\n"
    "  const int i = get_global_id(0);\n"
    "  float x = 0.0f;\n"
    "  for (int t = 0; t < work; t++) x = x * 0.5f + 1.0f;\n"
    "  out[i] = tag + (float)i + (x > 0.0f ? 0.0f : 1.0f);\n"
    "}\n";

static cl_platform_id platform;
static cl_device_id device;
static int serial = 0, rounds = 4;
static pthread_mutex_t launchLock = PTHREAD_MUTEX_INITIALIZER;

#define CHECK(call)                                                             \
  do {                                                                          \
    cl_int status_ = (call);                                                    \
    if (status_ != CL_SUCCESS) {                                                \
      fprintf(stderr, "%s:%d: %s returned %d\n", __FILE__, __LINE__, #call, status_); \
      exit(2);                                                                  \
    }                                                                           \
  } while (0)

typedef struct { int thread; long wrongElements; long skippedGroups; } Job;

static void *run(void *argument) {
  Job *job = argument;
  cl_int status;
  cl_context context = clCreateContext(NULL, 1, &device, NULL, NULL, &status);
  CHECK(status);
  cl_command_queue queue = clCreateCommandQueue(context, device, 0, &status);
  CHECK(status);
  cl_program program = clCreateProgramWithSource(context, 1, &source, NULL, &status);
  CHECK(status);
  CHECK(clBuildProgram(program, 1, &device, "", NULL, NULL));
  cl_kernel kernel = clCreateKernel(program, "fill", &status);
  CHECK(status);
  cl_mem buffer = clCreateBuffer(context, CL_MEM_READ_WRITE, COUNT * sizeof(float), NULL, &status);
  CHECK(status);
  float *host = malloc(COUNT * sizeof(float));
  const float tag = 1000.0f * (job->thread + 1);
  const int work = WORK;
  for (int round = 0; round < rounds; round++) {
    memset(host, 0, COUNT * sizeof(float));
    CHECK(clEnqueueWriteBuffer(queue, buffer, CL_TRUE, 0, COUNT * sizeof(float), host, 0, NULL, NULL));
    CHECK(clSetKernelArg(kernel, 0, sizeof(cl_mem), &buffer));
    CHECK(clSetKernelArg(kernel, 1, sizeof(float), &tag));
    CHECK(clSetKernelArg(kernel, 2, sizeof(int), &work));
    size_t global = COUNT, local = LOCAL;
    if (serial) pthread_mutex_lock(&launchLock);
    CHECK(clEnqueueNDRangeKernel(queue, kernel, 1, NULL, &global, &local, 0, NULL, NULL));
    CHECK(clEnqueueReadBuffer(queue, buffer, CL_TRUE, 0, COUNT * sizeof(float), host, 0, NULL, NULL));
    if (serial) pthread_mutex_unlock(&launchLock);
    for (int g = 0; g < GROUPS; g++) {
      int wrong = 0;
      for (int l = 0; l < LOCAL; l++) {
        const int i = g * LOCAL + l;
        if (host[i] != tag + (float)i) wrong++;
      }
      job->wrongElements += wrong;
      if (wrong == LOCAL) job->skippedGroups++;
    }
  }
  free(host);
  clReleaseMemObject(buffer);
  clReleaseKernel(kernel);
  clReleaseProgram(program);
  clReleaseCommandQueue(queue);
  clReleaseContext(context);
  return NULL;
}

int main(int argc, char **argv) {
  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "serial") == 0) serial = 1;
    else rounds = atoi(argv[a]);
  }
  CHECK(clGetPlatformIDs(1, &platform, NULL));
  CHECK(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL));
  char name[256] = "";
  clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof name, name, NULL);
  Job jobs[2] = {{0, 0, 0}, {1, 0, 0}};
  pthread_t threads[2];
  for (int t = 0; t < 2; t++) pthread_create(&threads[t], NULL, run, &jobs[t]);
  for (int t = 0; t < 2; t++) pthread_join(threads[t], NULL);
  long wrong = 0;
  for (int t = 0; t < 2; t++) {
    printf("%s, %s launches, thread %d: %d rounds of %d work-groups, %ld wrong elements, %ld work-groups never ran\n",
           name, serial ? "serialised" : "concurrent", t, rounds, GROUPS, jobs[t].wrongElements, jobs[t].skippedGroups);
    wrong += jobs[t].wrongElements;
  }
  return wrong == 0 ? 0 : 1;
}
