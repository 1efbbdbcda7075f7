// Hand-written CUDA kernels for tests/test_cuda_emulation.py. The same text is
// compiled by nvcc (-arch=sm_90) and, as C++20, by the CPU emulation. Host entry
// points take host pointers, copy to "device" memory, launch, and copy back, the
// way graphc's generated host code does.
#include "graphc_cuda.h"

#define GRID_STRIDE(i, n) \
    for (gc_index_t i = blockIdx.x * (gc_index_t)blockDim.x + threadIdx.x; i < (n); \
         i += (gc_index_t)gridDim.x * blockDim.x)

// ---- kernels --------------------------------------------------------------------

__global__ void axpby(gc_index_t n, float a, const float* GC_RESTRICT x, float b,
                      const float* GC_RESTRICT y, float* GC_RESTRICT out) {
    GRID_STRIDE(i, n) out[i] = a * __ldg(x + i) + b * expf(y[i]);
}

// Classic block reduction: shared-memory tree down to one warp, then shuffles.
__global__ void block_sum_f64(gc_index_t n, const double* GC_RESTRICT x, double* GC_RESTRICT partial) {
    __shared__ double buf[1024];
    double acc = 0.0;
    GRID_STRIDE(i, n) acc += x[i];
    buf[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s >= 32; s >>= 1) {
        if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x < 32) {
        double v = buf[threadIdx.x];
        for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
        if (threadIdx.x == 0) partial[blockIdx.x] = v;
    }
}

// One block per row: max and sum(exp(x - max)) with the header's block helpers.
__global__ void row_logsumexp(int rows, int cols, const float* GC_RESTRICT x, float* GC_RESTRICT out) {
    __shared__ float scratch[32];
    const float* row = x + (gc_index_t)blockIdx.x * cols;
    float m = -GC_INFINITY;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) m = gc_max(m, row[j]);
    m = gc_block_allreduce_max(m, scratch);
    float s = 0.f;
    for (int j = threadIdx.x; j < cols; j += blockDim.x) s += expf(row[j] - m);
    s = gc_block_allreduce_sum(s, scratch);
    if (threadIdx.x == 0) out[blockIdx.x] = m + logf(s);
}

__global__ void atomics(gc_index_t n, const float* GC_RESTRICT x, const int* GC_RESTRICT bins,
                        float* fsum, double* dsum, int* hist, unsigned* umax, float* fmax_out) {
    GRID_STRIDE(i, n) {
        atomicAdd(fsum, x[i]);
        atomicAdd(dsum, (double)x[i]);
        atomicAdd(hist + bins[i], 1);
        atomicMax(umax, (unsigned)bins[i]);
        gc_atomic_max(fmax_out, x[i]);
    }
}

// Each thread records what the warp primitives return to it.
__global__ void warp_ops(const int* GC_RESTRICT v, int width, int delta, int* GC_RESTRICT down,
                         int* GC_RESTRICT up, int* GC_RESTRICT xr, int* GC_RESTRICT idx,
                         unsigned* GC_RESTRICT ballot) {
    int t = blockIdx.x * blockDim.x + threadIdx.x;
    int x = v[t];
    down[t] = __shfl_down_sync(0xffffffffu, x, delta, width);
    up[t] = __shfl_up_sync(0xffffffffu, x, delta, width);
    xr[t] = __shfl_xor_sync(0xffffffffu, x, delta, width);
    idx[t] = __shfl_sync(0xffffffffu, x, delta, width);
    ballot[t] = __ballot_sync(0xffffffffu, x & 1);
}

// 2-D grid of 2-D blocks: every element records who wrote it.
__global__ void who_wrote(int h, int w, int* GC_RESTRICT out) {
    int r = blockIdx.y * blockDim.y + threadIdx.y;
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (r < h && c < w)
        out[r * w + c] = ((blockIdx.y * gridDim.x + blockIdx.x) * 1024) +
                         (threadIdx.y * blockDim.x + threadIdx.x);
}

// Dynamic shared memory: reverse each block's chunk in place.
__global__ void reverse_chunks(gc_index_t n, float* GC_RESTRICT x) {
    GC_DYNAMIC_SHARED(float, tile);
    gc_index_t i = blockIdx.x * (gc_index_t)blockDim.x + threadIdx.x;
    if (i < n) tile[threadIdx.x] = x[i];
    __syncthreads();
    gc_index_t base = blockIdx.x * (gc_index_t)blockDim.x;
    gc_index_t len = n - base < blockDim.x ? n - base : blockDim.x;
    if (threadIdx.x < len) x[base + threadIdx.x] = tile[len - 1 - threadIdx.x];
}

// Tiled GEMM with shared-memory tiles (C = A @ B, row-major).
#define TILE 16
__global__ void matmul_tiled(int m, int n, int k, const float* GC_RESTRICT a,
                             const float* GC_RESTRICT b, float* GC_RESTRICT c) {
    GC_SHARED(float, as, TILE * TILE);
    GC_SHARED(float, bs, TILE * TILE);
    int row = blockIdx.y * TILE + threadIdx.y, col = blockIdx.x * TILE + threadIdx.x;
    float acc = 0.f;
    for (int t0 = 0; t0 < k; t0 += TILE) {
        as[threadIdx.y * TILE + threadIdx.x] =
            (row < m && t0 + (int)threadIdx.x < k) ? a[row * k + t0 + threadIdx.x] : 0.f;
        bs[threadIdx.y * TILE + threadIdx.x] =
            (col < n && t0 + (int)threadIdx.y < k) ? b[(t0 + threadIdx.y) * n + col] : 0.f;
        __syncthreads();
        for (int q = 0; q < TILE; ++q) acc += as[threadIdx.y * TILE + q] * bs[q * TILE + threadIdx.x];
        __syncthreads();
    }
    if (row < m && col < n) c[row * n + col] = acc;
}

// Threads past the end return before the barrier (the others must not hang).
__global__ void early_exit_scan(int n, const int* GC_RESTRICT x, int* GC_RESTRICT out) {
    __shared__ int buf[256];
    int i = threadIdx.x;
    if (i >= n) return;
    buf[i] = x[i];
    __syncthreads();
    int s = 0;
    for (int j = 0; j <= i; ++j) s += buf[j];
    out[i] = s;
}

// Thread 0 waits for its warp at __syncwarp while the rest of the block waits at
// __syncthreads: neither barrier can ever complete.
__global__ void mismatched_barriers(int* out) {
    if (threadIdx.x == 0) __syncwarp(); else __syncthreads();
    out[threadIdx.x] = 1;
}

// ---- host entry points ----------------------------------------------------------

#define DEV(ptr, bytes) GC_CHECK(gcMalloc((void**)&(ptr), (bytes)))

GC_EXPORT int run_axpby(gc_index_t n, float a, const float* x, float b, const float* y,
                        float* out, int grid, int block) {
    float *dx, *dy, *dout;
    size_t bytes = (size_t)n * sizeof(float);
    DEV(dx, bytes); DEV(dy, bytes); DEV(dout, bytes);
    GC_CHECK(gcMemcpyHtoD(dx, x, bytes));
    GC_CHECK(gcMemcpyHtoD(dy, y, bytes));
    GC_LAUNCH(axpby, grid, block, 0, n, a, dx, b, dy, dout);
    GC_CHECK_LAUNCH(axpby);
    GC_CHECK(gcDeviceSynchronize());
    GC_CHECK(gcMemcpyDtoH(out, dout, bytes));
    gcFree(dx); gcFree(dy); gcFree(dout);
    return 0;
}

GC_EXPORT int run_block_sum(gc_index_t n, const double* x, double* partial, int grid, int block) {
    double *dx, *dp;
    DEV(dx, n * sizeof(double)); DEV(dp, grid * sizeof(double));
    GC_CHECK(gcMemcpyHtoD(dx, x, n * sizeof(double)));
    GC_LAUNCH(block_sum_f64, grid, block, 0, n, dx, dp);
    GC_CHECK_LAUNCH(block_sum_f64);
    GC_CHECK(gcMemcpyDtoH(partial, dp, grid * sizeof(double)));
    gcFree(dx); gcFree(dp);
    return 0;
}

GC_EXPORT int run_row_logsumexp(int rows, int cols, const float* x, float* out, int block) {
    float *dx, *dout;
    DEV(dx, (size_t)rows * cols * sizeof(float)); DEV(dout, rows * sizeof(float));
    GC_CHECK(gcMemcpyHtoD(dx, x, (size_t)rows * cols * sizeof(float)));
    GC_LAUNCH(row_logsumexp, rows, block, 0, rows, cols, dx, dout);
    GC_CHECK_LAUNCH(row_logsumexp);
    GC_CHECK(gcMemcpyDtoH(out, dout, rows * sizeof(float)));
    gcFree(dx); gcFree(dout);
    return 0;
}

GC_EXPORT int run_atomics(gc_index_t n, const float* x, const int* bins, int nbins, float* fsum,
                          double* dsum, int* hist, unsigned* umax, float* fmax_out, int grid, int block) {
    float *dx, *dfs, *dfm; int *db, *dh; double* dds; unsigned* dum;
    DEV(dx, n * sizeof(float)); DEV(db, n * sizeof(int)); DEV(dfs, sizeof(float));
    DEV(dds, sizeof(double)); DEV(dh, nbins * sizeof(int)); DEV(dum, sizeof(unsigned));
    DEV(dfm, sizeof(float));
    GC_CHECK(gcMemcpyHtoD(dx, x, n * sizeof(float)));
    GC_CHECK(gcMemcpyHtoD(db, bins, n * sizeof(int)));
    GC_CHECK(gcMemset(dfs, 0, sizeof(float)));
    GC_CHECK(gcMemset(dds, 0, sizeof(double)));
    GC_CHECK(gcMemset(dh, 0, nbins * sizeof(int)));
    GC_CHECK(gcMemset(dum, 0, sizeof(unsigned)));
    GC_CHECK(gcMemcpyHtoD(dfm, x, sizeof(float)));
    GC_LAUNCH(atomics, grid, block, 0, n, dx, db, dfs, dds, dh, dum, dfm);
    GC_CHECK_LAUNCH(atomics);
    GC_CHECK(gcMemcpyDtoH(fsum, dfs, sizeof(float)));
    GC_CHECK(gcMemcpyDtoH(dsum, dds, sizeof(double)));
    GC_CHECK(gcMemcpyDtoH(hist, dh, nbins * sizeof(int)));
    GC_CHECK(gcMemcpyDtoH(umax, dum, sizeof(unsigned)));
    GC_CHECK(gcMemcpyDtoH(fmax_out, dfm, sizeof(float)));
    gcFree(dx); gcFree(db); gcFree(dfs); gcFree(dds); gcFree(dh); gcFree(dum); gcFree(dfm);
    return 0;
}

GC_EXPORT int run_warp_ops(int nthreads, int block, const int* v, int width, int delta, int* down,
                           int* up, int* xr, int* idx, unsigned* ballot) {
    int *dv, *dd, *du, *dxr, *di; unsigned* db;
    size_t bytes = (size_t)nthreads * sizeof(int);
    DEV(dv, bytes); DEV(dd, bytes); DEV(du, bytes); DEV(dxr, bytes); DEV(di, bytes); DEV(db, bytes);
    GC_CHECK(gcMemcpyHtoD(dv, v, bytes));
    GC_LAUNCH(warp_ops, nthreads / block, block, 0, dv, width, delta, dd, du, dxr, di, db);
    GC_CHECK_LAUNCH(warp_ops);
    GC_CHECK(gcMemcpyDtoH(down, dd, bytes)); GC_CHECK(gcMemcpyDtoH(up, du, bytes));
    GC_CHECK(gcMemcpyDtoH(xr, dxr, bytes)); GC_CHECK(gcMemcpyDtoH(idx, di, bytes));
    GC_CHECK(gcMemcpyDtoH(ballot, db, bytes));
    gcFree(dv); gcFree(dd); gcFree(du); gcFree(dxr); gcFree(di); gcFree(db);
    return 0;
}

GC_EXPORT int run_who_wrote(int h, int w, int bx, int by, int* out) {
    int* d;
    DEV(d, (size_t)h * w * sizeof(int));
    dim3 block(bx, by), grid((w + bx - 1) / bx, (h + by - 1) / by);
    GC_LAUNCH(who_wrote, grid, block, 0, h, w, d);
    GC_CHECK_LAUNCH(who_wrote);
    GC_CHECK(gcMemcpyDtoH(out, d, (size_t)h * w * sizeof(int)));
    gcFree(d);
    return 0;
}

GC_EXPORT int run_reverse_chunks(gc_index_t n, float* x, int block) {
    float* d;
    DEV(d, n * sizeof(float));
    GC_CHECK(gcMemcpyHtoD(d, x, n * sizeof(float)));
    int grid = (int)((n + block - 1) / block);
    GC_LAUNCH(reverse_chunks, grid, block, block * sizeof(float), n, d);
    GC_CHECK_LAUNCH(reverse_chunks);
    GC_CHECK(gcMemcpyDtoH(x, d, n * sizeof(float)));
    gcFree(d);
    return 0;
}

GC_EXPORT int run_matmul(int m, int n, int k, const float* a, const float* b, float* c) {
    float *da, *db, *dc;
    DEV(da, (size_t)m * k * 4); DEV(db, (size_t)k * n * 4); DEV(dc, (size_t)m * n * 4);
    GC_CHECK(gcMemcpyHtoD(da, a, (size_t)m * k * 4));
    GC_CHECK(gcMemcpyHtoD(db, b, (size_t)k * n * 4));
    dim3 block(TILE, TILE), grid((n + TILE - 1) / TILE, (m + TILE - 1) / TILE);
    GC_LAUNCH(matmul_tiled, grid, block, 0, m, n, k, da, db, dc);
    GC_CHECK_LAUNCH(matmul_tiled);
    GC_CHECK(gcMemcpyDtoH(c, dc, (size_t)m * n * 4));
    gcFree(da); gcFree(db); gcFree(dc);
    return 0;
}

GC_EXPORT int run_early_exit_scan(int n, const int* x, int* out) {
    int *dx, *dout;
    DEV(dx, 256 * sizeof(int)); DEV(dout, 256 * sizeof(int));
    GC_CHECK(gcMemcpyHtoD(dx, x, n * sizeof(int)));
    GC_LAUNCH(early_exit_scan, 1, 256, 0, n, dx, dout);
    GC_CHECK_LAUNCH(early_exit_scan);
    GC_CHECK(gcMemcpyDtoH(out, dout, n * sizeof(int)));
    gcFree(dx); gcFree(dout);
    return 0;
}

GC_EXPORT int run_mismatched_barriers(void) {
    int* d;
    DEV(d, 64 * sizeof(int));
    GC_LAUNCH(mismatched_barriers, 2, 64, 0, d);
    GC_CHECK_LAUNCH(mismatched_barriers);
    GC_CHECK(gcDeviceSynchronize());
    gcFree(d);
    return 0;
}
