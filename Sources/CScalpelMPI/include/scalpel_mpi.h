// MPI for data-parallel training, loaded at run time: the scalpel binary does not link
// libmpi, so it starts and trains where no MPI is installed, and `--distributed` without one
// is a clear error. The ABI is Open MPI's (Debian's openmpi-bin, libmpi.so.40), whose
// predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ...) are addresses of exported
// globals and can therefore be found with dlsym.
#ifndef SCALPEL_MPI_H
#define SCALPEL_MPI_H

#include <stddef.h>

/// Opens the MPI library (`library`, or libmpi.so.40 then libmpi.so when NULL) and resolves
/// what Scalpel uses. Returns 0, or -1 with a reason in `error`.
int scalpel_mpi_load(const char *library, char *error, size_t error_size);

/// MPI_Init (once) with errors returned rather than fatal; 0 on success, else the MPI error code.
int scalpel_mpi_init(void);
int scalpel_mpi_rank(void);
int scalpel_mpi_size(void);
/// In-place sum over all ranks of `count` floats (or doubles). 0, or the MPI error code.
int scalpel_mpi_allreduce_sum_float(float *buffer, int count);
int scalpel_mpi_allreduce_sum_double(double *buffer, int count);
/// `count` floats from `root` to every rank.
int scalpel_mpi_broadcast_float(float *buffer, int count, int root);
int scalpel_mpi_barrier(void);
int scalpel_mpi_finalize(void);
/// Ends every rank of the job with `code`.
void scalpel_mpi_abort(int code);
/// The text of an MPI error code.
void scalpel_mpi_error_string(int code, char *text, size_t size);

#endif
