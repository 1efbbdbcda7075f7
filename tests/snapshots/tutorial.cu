/* graphc: tutorial (cuda), 1 fused kernels. Generated code: edit the graph, not this file. */
#include "graphc_cuda.h"
#include <stdbool.h>

/* k0_mul: elementwise kernel fusing 3 ops
 *   out0 = (9.0f * (a * a))
 *   out1 = (-2.0f * b)
 */
__global__ void k0_mul(const float* GC_RESTRICT a,
                       const float* GC_RESTRICT b,
                       float* GC_RESTRICT out0,
                       float* GC_RESTRICT out1) {
    const int N0 = 2;
    const int total = N0;
    for (int flat = (int)blockIdx.x * blockDim.x + threadIdx.x; flat < total; flat += (int)gridDim.x * blockDim.x) {
        const int i0 = flat;
        const float v1 = a[i0];
        const float v2 = (v1 * v1);
        const float v3 = (9.0f * v2);
        const float v4 = b[i0];
        const float v5 = (-2.0f * v4);
        out0[i0] = v3;
        out1[i0] = v5;
    }
}
static unsigned gc_blocks(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b > 65535 * 32) b = 65535 * 32;   /* grid-stride loops cover the rest */
    return b < 1 ? 1u : (unsigned)b;
}
static unsigned gc_tiles(int64_t n) { return n < 1 ? 1u : (unsigned)((n + 63) / 64); }
static unsigned gc_tiles_z(int64_t n) { return n < 1 ? 1u : (unsigned)n; }
static unsigned gc_rows(int64_t rows) { return rows < 1 ? 1u : rows > 65535 ? 65535u : (unsigned)rows; }
static unsigned gc_row_threads(int64_t r) { return r <= 32 ? 32u : r <= 128 ? 128u : 256u; }
static int gc_ensure(void** p, size_t* cap, size_t bytes) {
    if (*p != NULL && *cap >= bytes) return 0;
    if (*p != NULL) { GC_CHECK(gcFree(*p)); *p = NULL; *cap = 0; }
    GC_CHECK(gcMalloc(p, bytes ? bytes : 1));
    *cap = bytes;
    return 1;
}

/* device state: parameters and constants stay resident between calls */
static void* gc_in[1]; static size_t gc_in_cap[1];
static void* gc_par[2]; static size_t gc_par_cap[2];
static void* gc_res[2]; static size_t gc_res_cap[2];
static void* gc_con[1]; static size_t gc_con_cap[1];
static void* gc_ws; static size_t gc_ws_cap;

GC_EXPORT int64_t graphc_tutorial_workspace_bytes(const int64_t* sizes) {
    int64_t ws_total = 0;
    return ws_total;
}

/* The kernels alone, on DEVICE pointers (workspace: graphc_tutorial_workspace_bytes). */
GC_EXPORT int graphc_tutorial_run_device(void* const* d_inputs, void* const* d_params, void* const* d_results,
        const int64_t* sizes, void* d_workspace) {
    int64_t ws_total = 0;
    (void)ws_total;
    char* ws = (char*)d_workspace; (void)ws;
    const float* a = (const float*)d_params[0];
    const float* b = (const float*)d_params[1];
    float* out0 = (float*)d_results[0];
    float* out1 = (float*)d_results[1];
    GC_LAUNCH(k0_mul, gc_blocks((int64_t)(2), 256), 256, 0, a, b, out0, out1);
    GC_CHECK_LAUNCH(k0_mul);
    GC_CHECK(gcDeviceSynchronize());
    return 0;
}

/* One call: inputs/params/results are HOST pointers; param_dirty[k] != 0 uploads
 * parameter k (else the device copy from the previous call is used). */
GC_EXPORT int graphc_tutorial_run(void* const* inputs, void* const* params, const int* param_dirty,
        void* const* results, const int64_t* sizes) {
    int64_t ws_total = 0;
    { const size_t nbytes = ((size_t)2 * sizeof(float)); const int fresh = gc_ensure(&gc_par[0], &gc_par_cap[0], nbytes); if (fresh < 0) return -1;
      if (fresh || param_dirty[0]) GC_CHECK(gcMemcpyHtoD(gc_par[0], params[0], nbytes)); }
    { const size_t nbytes = ((size_t)2 * sizeof(float)); const int fresh = gc_ensure(&gc_par[1], &gc_par_cap[1], nbytes); if (fresh < 0) return -1;
      if (fresh || param_dirty[1]) GC_CHECK(gcMemcpyHtoD(gc_par[1], params[1], nbytes)); }
    if (gc_ensure(&gc_res[0], &gc_res_cap[0], ((size_t)2 * sizeof(float))) < 0) return -1;
    if (gc_ensure(&gc_res[1], &gc_res_cap[1], ((size_t)2 * sizeof(float))) < 0) return -1;
    if (gc_ensure(&gc_ws, &gc_ws_cap, (size_t)ws_total) < 0) return -1;
    { const int gc_rc = graphc_tutorial_run_device(gc_in, gc_par, gc_res, sizes, gc_ws); if (gc_rc != 0) return gc_rc; }
    GC_CHECK(gcMemcpyDtoH(results[0], gc_res[0], ((size_t)2 * sizeof(float))));
    GC_CHECK(gcMemcpyDtoH(results[1], gc_res[1], ((size_t)2 * sizeof(float))));
    return 0;
}

GC_EXPORT void graphc_tutorial_release(void) {
    for (int k = 0; k < 1; ++k) if (gc_in[k]) { gcFree(gc_in[k]); gc_in[k] = NULL; gc_in_cap[k] = 0; }
    for (int k = 0; k < 2; ++k) if (gc_par[k]) { gcFree(gc_par[k]); gc_par[k] = NULL; gc_par_cap[k] = 0; }
    for (int k = 0; k < 2; ++k) if (gc_res[k]) { gcFree(gc_res[k]); gc_res[k] = NULL; gc_res_cap[k] = 0; }
    for (int k = 0; k < 1; ++k) if (gc_con[k]) { gcFree(gc_con[k]); gc_con[k] = NULL; gc_con_cap[k] = 0; }
    if (gc_ws) { gcFree(gc_ws); gc_ws = NULL; gc_ws_cap = 0; }
}
