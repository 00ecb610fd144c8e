#include "scalpel_mpi.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef void *Handle;  // Open MPI handles are pointers to predefined objects.

static int (*p_init)(int *, char ***);
static int (*p_initialized)(int *);
static int (*p_finalized)(int *);
static int (*p_comm_rank)(Handle, int *);
static int (*p_comm_size)(Handle, int *);
static int (*p_allreduce)(const void *, void *, int, Handle, Handle, Handle);
static int (*p_bcast)(void *, int, Handle, int, Handle);
static int (*p_barrier)(Handle);
static int (*p_finalize)(void);
static int (*p_abort)(Handle, int);
static int (*p_set_errhandler)(Handle, Handle);
static int (*p_error_string)(int, char *, int *);
static Handle comm_world, type_float, type_double, op_sum, errors_return;

#define IN_PLACE ((void *)1)  // Open MPI's MPI_IN_PLACE

static int resolve(void *library, const char *name, void **out, char *error, size_t size) {
    *out = dlsym(library, name);
    if (*out == NULL) {
        snprintf(error, size, "%s does not export %s: not Open MPI (Scalpel needs Open MPI's libmpi.so.40)", "the MPI library", name);
        return -1;
    }
    return 0;
}

int scalpel_mpi_load(const char *library, char *error, size_t error_size) {
    // RTLD_GLOBAL: Open MPI's components are plugins that look up libmpi's symbols.
    void *handle = NULL;
    if (library != NULL) {
        handle = dlopen(library, RTLD_NOW | RTLD_GLOBAL);
    } else {
        handle = dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL);
        if (handle == NULL) handle = dlopen("libmpi.so", RTLD_NOW | RTLD_GLOBAL);
    }
    if (handle == NULL) {
        const char *reason = dlerror();
        snprintf(error, error_size, "cannot load the MPI library (%s); install Open MPI (apt-get install openmpi-bin)",
                 reason ? reason : "unknown reason");
        return -1;
    }
    struct { const char *name; void **slot; } symbols[] = {
        {"MPI_Init", (void **)&p_init}, {"MPI_Initialized", (void **)&p_initialized}, {"MPI_Finalized", (void **)&p_finalized},
        {"MPI_Comm_rank", (void **)&p_comm_rank}, {"MPI_Comm_size", (void **)&p_comm_size}, {"MPI_Allreduce", (void **)&p_allreduce},
        {"MPI_Bcast", (void **)&p_bcast}, {"MPI_Barrier", (void **)&p_barrier}, {"MPI_Finalize", (void **)&p_finalize},
        {"MPI_Abort", (void **)&p_abort}, {"MPI_Comm_set_errhandler", (void **)&p_set_errhandler},
        {"MPI_Error_string", (void **)&p_error_string},
        {"ompi_mpi_comm_world", &comm_world}, {"ompi_mpi_float", &type_float}, {"ompi_mpi_double", &type_double},
        {"ompi_mpi_op_sum", &op_sum}, {"ompi_mpi_errors_return", &errors_return},
    };
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        if (resolve(handle, symbols[i].name, symbols[i].slot, error, error_size) != 0) return -1;
    }
    return 0;
}

int scalpel_mpi_init(void) {
    int initialized = 0;
    p_initialized(&initialized);
    if (!initialized) {
        int code = p_init(NULL, NULL);
        if (code != 0) return code;
    }
    return p_set_errhandler(comm_world, errors_return);
}

int scalpel_mpi_rank(void) {
    int rank = 0;
    p_comm_rank(comm_world, &rank);
    return rank;
}

int scalpel_mpi_size(void) {
    int size = 1;
    p_comm_size(comm_world, &size);
    return size;
}

int scalpel_mpi_allreduce_sum_float(float *buffer, int count) {
    return p_allreduce(IN_PLACE, buffer, count, type_float, op_sum, comm_world);
}

int scalpel_mpi_allreduce_sum_double(double *buffer, int count) {
    return p_allreduce(IN_PLACE, buffer, count, type_double, op_sum, comm_world);
}

int scalpel_mpi_broadcast_float(float *buffer, int count, int root) {
    return p_bcast(buffer, count, type_float, root, comm_world);
}

int scalpel_mpi_barrier(void) { return p_barrier(comm_world); }

int scalpel_mpi_finalize(void) {
    int finalized = 0;
    p_finalized(&finalized);
    return finalized ? 0 : p_finalize();
}

void scalpel_mpi_abort(int code) { p_abort(comm_world, code); }

void scalpel_mpi_error_string(int code, char *text, size_t size) {
    char buffer[512];
    int length = 0;
    if (p_error_string == NULL || p_error_string(code, buffer, &length) != 0) {
        snprintf(text, size, "MPI error %d", code);
        return;
    }
    buffer[length < (int)sizeof buffer ? length : (int)sizeof buffer - 1] = 0;
    snprintf(text, size, "%s", buffer);
}
