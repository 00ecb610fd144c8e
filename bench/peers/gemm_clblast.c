/* gemm_clblast.c: fp32 GEMM with CLBlast on the first OpenCL device, for side-by-side runs
 * with `scalpel bench gemm` (adapted from the project's anchor driver, CLBlast path only).
 *
 *   gemm_clblast SAMPLES M N K TA TB [M N K TA TB ...]
 *
 * Prints one JSON object per shape: per-call milliseconds (median, min, max) over SAMPLES
 * samples, each repeating the call until it lasts >= 0.2 s and ending with clFinish, after a
 * warm-up call that includes CLBlast's kernel compilation; and the largest error of 64 sampled
 * elements against a double-precision dot product, relative to the summed magnitude.
 * Build: cc -O2 -o gemm_clblast gemm_clblast.c -lclblast -lOpenCL -lm */
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(x) do { cl_int e_ = (x); if (e_ != CL_SUCCESS) { fprintf(stderr, "%s:%d OpenCL error %d\n", __FILE__, __LINE__, e_); exit(1); } } while (0)

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
  if (argc < 7 || (argc - 2) % 5) { fprintf(stderr, "usage: %s SAMPLES M N K TA TB ...\n", argv[0]); return 2; }
  int samples = atoi(argv[1]);
  cl_platform_id platform; cl_device_id device; cl_int err;
  CHECK(clGetPlatformIDs(1, &platform, NULL));
  CHECK(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL));
  cl_context ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err); CHECK(err);
  cl_command_queue q = clCreateCommandQueue(ctx, device, 0, &err); CHECK(err);
  for (int s = 2; s + 5 <= argc; s += 5) {
    int M = atoi(argv[s]), N = atoi(argv[s + 1]), K = atoi(argv[s + 2]), ta = atoi(argv[s + 3]), tb = atoi(argv[s + 4]);
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4);
    srand(42);
    for (size_t i = 0; i < na; i++) A[i] = 2.0f * rand() / RAND_MAX - 1;
    for (size_t i = 0; i < nb; i++) B[i] = 2.0f * rand() / RAND_MAX - 1;
    cl_mem dA = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, na * 4, A, &err); CHECK(err);
    cl_mem dB = clCreateBuffer(ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, nb * 4, B, &err); CHECK(err);
    cl_mem dC = clCreateBuffer(ctx, CL_MEM_READ_WRITE, nc * 4, NULL, &err); CHECK(err);
#define CALL() do { CLBlastStatusCode st = CLBlastSgemm(CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo, \
      tb ? CLBlastTransposeYes : CLBlastTransposeNo, M, N, K, 1.0f, dA, 0, ta ? M : K, dB, 0, tb ? K : N, 0.0f, dC, 0, N, &q, NULL); \
      if (st != CLBlastSuccess) { fprintf(stderr, "CLBlast error %d\n", st); exit(1); } } while (0)
    CALL(); CHECK(clFinish(q));
    double t0 = now(); CALL(); CHECK(clFinish(q)); double one = now() - t0;
    int inner = (int)(0.2 / (one > 1e-6 ? one : 1e-6)); if (inner < 1) inner = 1;
    double *ms = malloc(sizeof(double) * samples);
    for (int r = 0; r < samples; r++) {
      t0 = now();
      for (int i = 0; i < inner; i++) CALL();
      CHECK(clFinish(q));
      ms[r] = (now() - t0) * 1e3 / inner;
    }
    CHECK(clEnqueueReadBuffer(q, dC, CL_TRUE, 0, nc * 4, C, 0, NULL, NULL));
    double worst = 0;
    for (int t = 0; t < 64; t++) {
      int i = rand() % M, j = rand() % N; double ref = 0, mag = 0;
      for (int l = 0; l < K; l++) {
        double x = ta ? A[(size_t)l * M + i] : A[(size_t)i * K + l], y = tb ? B[(size_t)j * K + l] : B[(size_t)l * N + j];
        ref += x * y; mag += fabs(x * y);
      }
      double rel = fabs(C[(size_t)i * N + j] - ref) / (mag > 0 ? mag : 1);
      if (rel > worst) worst = rel;
    }
    qsort(ms, samples, sizeof(double), cmp);
    printf("{\"m\": %d, \"n\": %d, \"k\": %d, \"transA\": %d, \"transB\": %d, \"msMedian\": %.5f, \"msMin\": %.5f, \"msMax\": %.5f, \"maxRelError\": %.2e}\n",
           M, N, K, ta, tb, ms[samples / 2], ms[0], ms[samples - 1], worst);
    fflush(stdout);
    clReleaseMemObject(dA); clReleaseMemObject(dB); clReleaseMemObject(dC);
    free(A); free(B); free(C); free(ms);
  }
  return 0;
}
