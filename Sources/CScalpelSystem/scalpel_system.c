#define _GNU_SOURCE
#include "scalpel_system.h"

#if defined(__linux__)
#include <sched.h>
int scalpel_cpu_affinity_count(void) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
  return CPU_COUNT(&set);
}
#else
int scalpel_cpu_affinity_count(void) { return -1; }
#endif

#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

int scalpel_cpu_has_fast_simd(void) {
  __builtin_cpu_init();
  // Everything the "haswell" target (what the fast kernels are compiled for) may emit.
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
         __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") && __builtin_cpu_supports("movbe") &&
         __builtin_cpu_supports("popcnt");
}

int scalpel_cpu_has_avx512(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

int scalpel_cpu_splits_512bit_fma(void) {
  unsigned int eax, ebx, ecx, edx;
  if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return 0;
  // "AuthenticAMD" in ebx, edx, ecx.
  int amd = ebx == 0x68747541u && edx == 0x69746e65u && ecx == 0x444d4163u;
  if (!amd || !__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  unsigned int family = (eax >> 8) & 0xf;
  if (family == 0xf) family += (eax >> 20) & 0xff;
  return family == 0x19;
}

int scalpel_cpu_has_avx512_kernels(void) {
  __builtin_cpu_init();
  return scalpel_cpu_has_fast_simd() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}

void scalpel_cpu_model_name(char *buffer, int size) {
  unsigned int regs[12];
  unsigned int max = __get_cpuid_max(0x80000000u, 0);
  if (max < 0x80000004u || size <= 0) {
    snprintf(buffer, size > 0 ? (size_t)size : 0, "x86-64 CPU");
    return;
  }
  for (unsigned int i = 0; i < 3; i++)
    __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
  char brand[49];
  memcpy(brand, regs, 48);
  brand[48] = 0;
  const char *start = brand;
  while (*start == ' ') start++;
  snprintf(buffer, (size_t)size, "%s", start);
  size_t n = strlen(buffer);
  while (n > 0 && buffer[n - 1] == ' ') buffer[--n] = 0;
}
#else
int scalpel_cpu_has_fast_simd(void) { return 1; }

int scalpel_cpu_has_avx512(void) { return 0; }

int scalpel_cpu_has_avx512_kernels(void) { return 0; }

int scalpel_cpu_splits_512bit_fma(void) { return 0; }

void scalpel_cpu_model_name(char *buffer, int size) {
  FILE *f = fopen("/proc/cpuinfo", "r");
  snprintf(buffer, size > 0 ? (size_t)size : 0, "CPU");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (!strncmp(line, "model name", 10) || !strncmp(line, "Model", 5)) {
      char *colon = strchr(line, ':');
      if (colon) {
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        snprintf(buffer, (size_t)size, "%s", colon);
        size_t n = strlen(buffer);
        while (n > 0 && (buffer[n - 1] == '\n' || buffer[n - 1] == ' ')) buffer[--n] = 0;
        break;
      }
    }
  }
  fclose(f);
}
#endif
