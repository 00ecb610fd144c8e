// Small platform queries that Swift cannot express directly.
#ifndef SCALPEL_SYSTEM_H
#define SCALPEL_SYSTEM_H

/// 1 when the CPU executes AVX2 and FMA instructions (the x86-64-v3 level the fast Swift
/// kernels are compiled for), else 0. Always 1 on non-x86 machines, whose SIMD baseline the
/// fast kernels are compiled for.
int scalpel_cpu_has_fast_simd(void);
// Whether the CPU has AVX-512 Foundation (32 vector registers of 16 floats); 0 off x86-64.
int scalpel_cpu_has_avx512(void);
/// 1 when the CPU executes everything the x86-64-v4 level may emit (the x86-64-v3 set plus
/// AVX-512 F, BW, CD, DQ and VL), which the AVX-512 GEMM kernel is compiled for; 0 otherwise.
int scalpel_cpu_has_avx512_kernels(void);
/// 1 on a CPU known to run each 512-bit FMA as two 256-bit halves (AMD family 19h, Zen 4), where
/// AVX-512 kernels reach the AVX2 ones' peak and no more; 0 otherwise.
int scalpel_cpu_splits_512bit_fma(void);

/// The CPU's model name (from cpuid's brand string on x86), written into `buffer`.
void scalpel_cpu_model_name(char *buffer, int size);

/// The number of CPUs this process may run on (its affinity mask: taskset, cgroups, or an MPI
/// launcher's binding), or -1 when it cannot be read.
int scalpel_cpu_affinity_count(void);

#endif
