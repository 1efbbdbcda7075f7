/* graphc: mlp (cuda), 9 fused kernels. Generated code: edit the graph, not this file. */
#include "graphc_cuda.h"
#include <stdbool.h>

/* k0_matmul_where_add_greater: matmul kernel fusing 4 ops
 *   t4_matmul = acc
 *   t0_where = (((acc + b1) > 0.0f) ? (acc + b1) : 0.0f)
 */
__global__ void k0_matmul_where_add_greater(const int64_t n_x0,
                                            const float* GC_RESTRICT b1,
                                            const float* GC_RESTRICT x,
                                            const float* GC_RESTRICT W1,
                                            float* GC_RESTRICT t4_matmul,
                                            float* GC_RESTRICT t0_where) {
    __shared__ float As[16][64];
    __shared__ float Bs[16][64 + 1];
    const gc_index_t N0 = n_x0;
    const gc_index_t N1 = 256;
    const gc_index_t N2 = 784;
    const gc_index_t bz = blockIdx.z;
    if (bz >= 1) return;   /* empty batch */
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const gc_index_t row0 = (gc_index_t)blockIdx.y * 64, col0 = (gc_index_t)blockIdx.x * 64;
    float c[4][4];
    for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] = 0;
    for (gc_index_t kt = 0; kt < N2; kt += 16) {
        for (int e = threadIdx.x; e < 1024; e += blockDim.x) {
            const int ii = e / 16, kk = e % 16;
            const gc_index_t i2 = kt + kk;
            const gc_index_t i0 = row0 + ii;
            float val = 0;
            if (i0 < N0 && i2 < N2) {
                const float v1 = x[i0*784 + i2];
                val = v1;
            }
            As[kk][ii] = val;
        }
        for (int e = threadIdx.x; e < 1024; e += blockDim.x) {
            const int kk = e / 64, jj = e % 64;
            const gc_index_t i2 = kt + kk;
            const gc_index_t i1 = col0 + jj;
            float val = 0;
            if (i1 < N1 && i2 < N2) {
                const float v2 = W1[i1 + i2*256];
                val = v2;
            }
            Bs[kk][jj] = val;
        }
        __syncthreads();
        for (int kk = 0; kk < 16; ++kk) {
            float a_frag[4], b_frag[4];
            for (int m = 0; m < 4; ++m) a_frag[m] = As[kk][ty + 16 * m];
            for (int q = 0; q < 4; ++q) b_frag[q] = Bs[kk][tx + 16 * q];
            for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] += a_frag[m] * b_frag[q];
        }
        __syncthreads();
    }
    for (int m = 0; m < 4; ++m) {
        for (int q = 0; q < 4; ++q) {
            const gc_index_t row = row0 + ty + 16 * m, col = col0 + tx + 16 * q;
            if (row >= N0 || col >= N1) continue;
            const gc_index_t i0 = row;
            const gc_index_t i1 = col;
            const float acc = c[m][q];
            const float v3 = b1[i1];
            const float v4 = (acc + v3);
            const bool v5 = (v4 > 0.0f);
            const float v6 = (v5 ? v4 : 0.0f);
            t4_matmul[i0*256 + i1] = acc;
            t0_where[i0*256 + i1] = v6;
        }
    }
}
/* k1_matmul: matmul kernel fusing 1 ops
 *   t1_matmul = acc
 */
__global__ void k1_matmul(const int64_t n_x0,
                          const float* GC_RESTRICT t0_where,
                          const float* GC_RESTRICT W2,
                          float* GC_RESTRICT t1_matmul) {
    __shared__ float As[16][64];
    __shared__ float Bs[16][64 + 1];
    const gc_index_t N0 = n_x0;
    const gc_index_t N1 = 10;
    const gc_index_t N2 = 256;
    const gc_index_t bz = blockIdx.z;
    if (bz >= 1) return;   /* empty batch */
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const gc_index_t row0 = (gc_index_t)blockIdx.y * 64, col0 = (gc_index_t)blockIdx.x * 64;
    float c[4][4];
    for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] = 0;
    for (gc_index_t kt = 0; kt < N2; kt += 16) {
        for (int e = threadIdx.x; e < 1024; e += blockDim.x) {
            const int ii = e / 16, kk = e % 16;
            const gc_index_t i2 = kt + kk;
            const gc_index_t i0 = row0 + ii;
            float val = 0;
            if (i0 < N0 && i2 < N2) {
                const float v1 = t0_where[i0*256 + i2];
                val = v1;
            }
            As[kk][ii] = val;
        }
        for (int e = threadIdx.x; e < 1024; e += blockDim.x) {
            const int kk = e / 64, jj = e % 64;
            const gc_index_t i2 = kt + kk;
            const gc_index_t i1 = col0 + jj;
            float val = 0;
            if (i1 < N1 && i2 < N2) {
                const float v2 = W2[i1 + i2*10];
                val = v2;
            }
            Bs[kk][jj] = val;
        }
        __syncthreads();
        for (int kk = 0; kk < 16; ++kk) {
            float a_frag[4], b_frag[4];
            for (int m = 0; m < 4; ++m) a_frag[m] = As[kk][ty + 16 * m];
            for (int q = 0; q < 4; ++q) b_frag[q] = Bs[kk][tx + 16 * q];
            for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] += a_frag[m] * b_frag[q];
        }
        __syncthreads();
    }
    for (int m = 0; m < 4; ++m) {
        for (int q = 0; q < 4; ++q) {
            const gc_index_t row = row0 + ty + 16 * m, col = col0 + tx + 16 * q;
            if (row >= N0 || col >= N1) continue;
            const gc_index_t i0 = row;
            const gc_index_t i1 = col;
            const float acc = c[m][q];
            t1_matmul[i0*10 + i1] = acc;
        }
    }
}
/* k2_reduce_max_add_sum_exp_etc8: reduce kernel fusing 31 ops
 *   t2_sum = sum((one_hot(labels) ? v20 : 0.0f))
 *   t3_sub = ((one_hot(labels) ? (-1.0f / n_x0) : 0.0f) - v37)
 */
__global__ void k2_reduce_max_add_sum_exp_etc8(const int64_t n_x0,
                                               const float* GC_RESTRICT b2,
                                               const float* GC_RESTRICT t1_matmul,
                                               const int64_t* GC_RESTRICT labels,
                                               float* GC_RESTRICT t3_sub,
                                               float* GC_RESTRICT t2_sum) {
    __shared__ float scratch_0[32];
    const gc_index_t N0 = n_x0;
    const gc_index_t N1 = 10;
    const gc_index_t O = N0;
    const gc_index_t R = N1;
    for (gc_index_t o = blockIdx.x; o < O; o += gridDim.x) {
        const gc_index_t i0 = o;
        float a_r0 = (-GC_INFINITY);
        for (gc_index_t r = threadIdx.x; r < R; r += blockDim.x) {
            const gc_index_t i1 = r;
            const float v1 = b2[i1];
            const float v2 = t1_matmul[i0*10 + i1];
            const float v3 = (v2 + v1);
            a_r0 = gc_max(a_r0, (float)v3);
        }
        const float r0 = (float)gc_block_allreduce_max(a_r0, scratch_0);
        float a_r1 = 0;
        for (gc_index_t r = threadIdx.x; r < R; r += blockDim.x) {
            const gc_index_t i1 = r;
            const float v4 = fabsf(r0);
            const bool v5 = (v4 < INFINITY);
            const float v6 = (v5 ? r0 : 0.0f);
            const float v7 = b2[i1];
            const float v8 = t1_matmul[i0*10 + i1];
            const float v9 = (v8 + v7);
            const float v10 = (v9 - v6);
            const float v11 = expf(v10);
            a_r1 += v11;
        }
        const float r1 = (float)gc_block_allreduce_sum(a_r1, scratch_0);
        float a_r2 = 0;
        for (gc_index_t r = threadIdx.x; r < R; r += blockDim.x) {
            const gc_index_t i1 = r;
            const float v12 = logf(r1);
            const float v13 = fabsf(r0);
            const bool v14 = (v13 < INFINITY);
            const float v15 = (v14 ? r0 : 0.0f);
            const float v16 = b2[i1];
            const float v17 = t1_matmul[i0*10 + i1];
            const float v18 = (v17 + v16);
            const float v19 = (v18 - v15);
            const float v20 = (v19 - v12);
            const int64_t v21 = labels[i0];
            const gc_index_t ix22 = i1;
            const bool v23 = ((bool)(v21 == ix22));
            const float v24 = (v23 ? v20 : 0.0f);
            a_r2 += v24;
        }
        const float r2 = (float)gc_block_allreduce_sum(a_r2, scratch_0);
        if (threadIdx.x == 0) t2_sum[i0] = r2;
        for (gc_index_t r = threadIdx.x; r < R; r += blockDim.x) {
            const gc_index_t i1 = r;
            const float v26 = fabsf(r0);
            const bool v27 = (v26 < INFINITY);
            const float v28 = (v27 ? r0 : 0.0f);
            const float v29 = b2[i1];
            const float v30 = t1_matmul[i0*10 + i1];
            const float v31 = (v30 + v29);
            const float v32 = (v31 - v28);
            const float v33 = expf(v32);
            const float v34 = ((float)(n_x0));
            const float v35 = (-1.0f / v34);
            const float v36 = (v35 * v33);
            const float v37 = (v36 / r1);
            const int64_t v38 = labels[i0];
            const gc_index_t ix39 = i1;
            const bool v40 = ((bool)(v38 == ix39));
            const float v41 = (v40 ? v35 : 0.0f);
            const float v42 = (v41 - v37);
            t3_sub[i0*10 + i1] = v42;
        }
    }
}
/* k3_reduce_sum_neg_div: reduce kernel fusing 3 ops
 *   out0 = (-(sum(t2_sum) / n_x0))
 */
__global__ void k3_reduce_sum_neg_div(const int64_t n_x0,
                                      const float* GC_RESTRICT t2_sum,
                                      float* GC_RESTRICT out0) {
    __shared__ float scratch_0[32];
    const gc_index_t N0 = n_x0;
    const gc_index_t O = 1;
    const gc_index_t R = N0;
    for (gc_index_t o = blockIdx.x; o < O; o += gridDim.x) {
        float a_r0 = 0;
        for (gc_index_t r = threadIdx.x; r < R; r += blockDim.x) {
            const gc_index_t i0 = r;
            const float v1 = t2_sum[i0];
            a_r0 += v1;
        }
        const float r0 = (float)gc_block_allreduce_sum(a_r0, scratch_0);
        const float v2 = ((float)(n_x0));
        const float v3 = (r0 / v2);
        const float v4 = (-v3);
        if (threadIdx.x == 0) out0[0] = v4;
    }
}
/* k4_matmul_where_greater_add: matmul kernel fusing 4 ops
 *   t5_where = (((t4_matmul + b1) > 0.0f) ? acc : 0.0f)
 */
__global__ void k4_matmul_where_greater_add(const int64_t n_x0,
                                            const float* GC_RESTRICT b1,
                                            const float* GC_RESTRICT t4_matmul,
                                            const float* GC_RESTRICT t3_sub,
                                            const float* GC_RESTRICT W2,
                                            float* GC_RESTRICT t5_where) {
    __shared__ float As[16][64];
    __shared__ float Bs[16][64 + 1];
    const gc_index_t N0 = n_x0;
    const gc_index_t N1 = 256;
    const gc_index_t N2 = 10;
    const gc_index_t bz = blockIdx.z;
    if (bz >= 1) return;   /* empty batch */
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const gc_index_t row0 = (gc_index_t)blockIdx.y * 64, col0 = (gc_index_t)blockIdx.x * 64;
    float c[4][4];
    for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] = 0;
    for (gc_index_t kt = 0; kt < N2; kt += 16) {
        for (int e = threadIdx.x; e < 1024; e += blockDim.x) {
            const int ii = e / 16, kk = e % 16;
            const gc_index_t i2 = kt + kk;
            const gc_index_t i0 = row0 + ii;
            float val = 0;
            if (i0 < N0 && i2 < N2) {
                const float v1 = t3_sub[i0*10 + i2];
                val = v1;
            }
            As[kk][ii] = val;
        }
        for (int e = threadIdx.x; e < 1024; e += blockDim.x) {
            const int kk = e / 64, jj = e % 64;
            const gc_index_t i2 = kt + kk;
            const gc_index_t i1 = col0 + jj;
            float val = 0;
            if (i1 < N1 && i2 < N2) {
                const float v2 = W2[i1*10 + i2];
                val = v2;
            }
            Bs[kk][jj] = val;
        }
        __syncthreads();
        for (int kk = 0; kk < 16; ++kk) {
            float a_frag[4], b_frag[4];
            for (int m = 0; m < 4; ++m) a_frag[m] = As[kk][ty + 16 * m];
            for (int q = 0; q < 4; ++q) b_frag[q] = Bs[kk][tx + 16 * q];
            for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] += a_frag[m] * b_frag[q];
        }
        __syncthreads();
    }
    for (int m = 0; m < 4; ++m) {
        for (int q = 0; q < 4; ++q) {
            const gc_index_t row = row0 + ty + 16 * m, col = col0 + tx + 16 * q;
            if (row >= N0 || col >= N1) continue;
            const gc_index_t i0 = row;
            const gc_index_t i1 = col;
            const float acc = c[m][q];
            const float v3 = b1[i1];
            const float v4 = t4_matmul[i0*256 + i1];
            const float v5 = (v4 + v3);
            const bool v6 = (v5 > 0.0f);
            const float v7 = (v6 ? acc : 0.0f);
            t5_where[i0*256 + i1] = v7;
        }
    }
}
/* k5_matmul_sub_mul: matmul kernel fusing 3 ops
 *   out1 = (W1 - (0.1f * acc))
 */
__global__ void k5_matmul_sub_mul(const int64_t n_x0,
                                  const float* GC_RESTRICT W1,
                                  const float* GC_RESTRICT x,
                                  const float* GC_RESTRICT t5_where,
                                  float* GC_RESTRICT out1) {
    __shared__ float As[16][64];
    __shared__ float Bs[16][64 + 1];
    const gc_index_t N0 = 784;
    const gc_index_t N1 = 256;
    const gc_index_t N2 = n_x0;
    const gc_index_t bz = blockIdx.z;
    if (bz >= 1) return;   /* empty batch */
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const gc_index_t row0 = (gc_index_t)blockIdx.y * 64, col0 = (gc_index_t)blockIdx.x * 64;
    float c[4][4];
    for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] = 0;
    for (gc_index_t kt = 0; kt < N2; kt += 16) {
        for (int e = threadIdx.x; e < 1024; e += blockDim.x) {
            const int ii = e / 16, kk = e % 16;
            const gc_index_t i2 = kt + kk;
            const gc_index_t i0 = row0 + ii;
            float val = 0;
            if (i0 < N0 && i2 < N2) {
                const float v1 = x[i0 + i2*784];
                val = v1;
            }
            As[kk][ii] = val;
        }
        for (int e = threadIdx.x; e < 1024; e += blockDim.x) {
            const int kk = e / 64, jj = e % 64;
            const gc_index_t i2 = kt + kk;
            const gc_index_t i1 = col0 + jj;
            float val = 0;
            if (i1 < N1 && i2 < N2) {
                const float v2 = t5_where[i1 + i2*256];
                val = v2;
            }
            Bs[kk][jj] = val;
        }
        __syncthreads();
        for (int kk = 0; kk < 16; ++kk) {
            float a_frag[4], b_frag[4];
            for (int m = 0; m < 4; ++m) a_frag[m] = As[kk][ty + 16 * m];
            for (int q = 0; q < 4; ++q) b_frag[q] = Bs[kk][tx + 16 * q];
            for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] += a_frag[m] * b_frag[q];
        }
        __syncthreads();
    }
    for (int m = 0; m < 4; ++m) {
        for (int q = 0; q < 4; ++q) {
            const gc_index_t row = row0 + ty + 16 * m, col = col0 + tx + 16 * q;
            if (row >= N0 || col >= N1) continue;
            const gc_index_t i0 = row;
            const gc_index_t i1 = col;
            const float acc = c[m][q];
            const float v3 = (0.1f * acc);
            const float v4 = W1[i0*256 + i1];
            const float v5 = (v4 - v3);
            out1[i0*256 + i1] = v5;
        }
    }
}
/* k6_reduce_sum_sub_mul: reduce kernel fusing 3 ops
 *   out2 = (b1 - (0.1f * sum(t5_where)))
 */
__global__ void k6_reduce_sum_sub_mul(const int64_t n_x0,
                                      const float* GC_RESTRICT b1,
                                      const float* GC_RESTRICT t5_where,
                                      float* GC_RESTRICT out2) {
    const gc_index_t N0 = n_x0;
    const gc_index_t N1 = 256;
    const gc_index_t O = N1;
    const gc_index_t R = N0;
    for (gc_index_t o = (gc_index_t)blockIdx.x * blockDim.x + threadIdx.x; o < O; o += (gc_index_t)gridDim.x * blockDim.x) {
        const gc_index_t i1 = o;
        float a_r0 = 0;
        for (gc_index_t r = 0; r < R; ++r) {
            const gc_index_t i0 = r;
            const float v1 = t5_where[i0*256 + i1];
            a_r0 += v1;
        }
        const float r0 = (float)a_r0;
        const float v2 = (0.1f * r0);
        const float v3 = b1[i1];
        const float v4 = (v3 - v2);
        out2[i1] = v4;
    }
}
/* k7_matmul_sub_mul: matmul kernel fusing 3 ops
 *   out3 = (W2 - (0.1f * acc))
 */
__global__ void k7_matmul_sub_mul(const int64_t n_x0,
                                  const float* GC_RESTRICT W2,
                                  const float* GC_RESTRICT t0_where,
                                  const float* GC_RESTRICT t3_sub,
                                  float* GC_RESTRICT out3) {
    __shared__ float As[16][64];
    __shared__ float Bs[16][64 + 1];
    const gc_index_t N0 = 256;
    const gc_index_t N1 = 10;
    const gc_index_t N2 = n_x0;
    const gc_index_t bz = blockIdx.z;
    if (bz >= 1) return;   /* empty batch */
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const gc_index_t row0 = (gc_index_t)blockIdx.y * 64, col0 = (gc_index_t)blockIdx.x * 64;
    float c[4][4];
    for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] = 0;
    for (gc_index_t kt = 0; kt < N2; kt += 16) {
        for (int e = threadIdx.x; e < 1024; e += blockDim.x) {
            const int ii = e / 16, kk = e % 16;
            const gc_index_t i2 = kt + kk;
            const gc_index_t i0 = row0 + ii;
            float val = 0;
            if (i0 < N0 && i2 < N2) {
                const float v1 = t0_where[i0 + i2*256];
                val = v1;
            }
            As[kk][ii] = val;
        }
        for (int e = threadIdx.x; e < 1024; e += blockDim.x) {
            const int kk = e / 64, jj = e % 64;
            const gc_index_t i2 = kt + kk;
            const gc_index_t i1 = col0 + jj;
            float val = 0;
            if (i1 < N1 && i2 < N2) {
                const float v2 = t3_sub[i1 + i2*10];
                val = v2;
            }
            Bs[kk][jj] = val;
        }
        __syncthreads();
        for (int kk = 0; kk < 16; ++kk) {
            float a_frag[4], b_frag[4];
            for (int m = 0; m < 4; ++m) a_frag[m] = As[kk][ty + 16 * m];
            for (int q = 0; q < 4; ++q) b_frag[q] = Bs[kk][tx + 16 * q];
            for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] += a_frag[m] * b_frag[q];
        }
        __syncthreads();
    }
    for (int m = 0; m < 4; ++m) {
        for (int q = 0; q < 4; ++q) {
            const gc_index_t row = row0 + ty + 16 * m, col = col0 + tx + 16 * q;
            if (row >= N0 || col >= N1) continue;
            const gc_index_t i0 = row;
            const gc_index_t i1 = col;
            const float acc = c[m][q];
            const float v3 = (0.1f * acc);
            const float v4 = W2[i0*10 + i1];
            const float v5 = (v4 - v3);
            out3[i0*10 + i1] = v5;
        }
    }
}
/* k8_reduce_sum_sub_mul: reduce kernel fusing 3 ops
 *   out4 = (b2 - (0.1f * sum(t3_sub)))
 */
__global__ void k8_reduce_sum_sub_mul(const int64_t n_x0,
                                      const float* GC_RESTRICT b2,
                                      const float* GC_RESTRICT t3_sub,
                                      float* GC_RESTRICT out4) {
    const gc_index_t N0 = n_x0;
    const gc_index_t N1 = 10;
    const gc_index_t O = N1;
    const gc_index_t R = N0;
    for (gc_index_t o = (gc_index_t)blockIdx.x * blockDim.x + threadIdx.x; o < O; o += (gc_index_t)gridDim.x * blockDim.x) {
        const gc_index_t i1 = o;
        float a_r0 = 0;
        for (gc_index_t r = 0; r < R; ++r) {
            const gc_index_t i0 = r;
            const float v1 = t3_sub[i0*10 + i1];
            a_r0 += v1;
        }
        const float r0 = (float)a_r0;
        const float v2 = (0.1f * r0);
        const float v3 = b2[i1];
        const float v4 = (v3 - v2);
        out4[i1] = v4;
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
static void* gc_in[2]; static size_t gc_in_cap[2];
static void* gc_par[4]; static size_t gc_par_cap[4];
static void* gc_res[5]; static size_t gc_res_cap[5];
static void* gc_con[1]; static size_t gc_con_cap[1];
static void* gc_ws; static size_t gc_ws_cap;

GC_EXPORT int64_t graphc_mlp_workspace_bytes(const int64_t* sizes) {
    const int64_t n_x0 = sizes[0]; (void)n_x0;
    int64_t ws_total = 0;
    const int64_t off_0 = ws_total; ws_total += ((4*1*n_x0*256) + 63) / 64 * 64;
    const int64_t off_1 = ws_total; ws_total += ((4*1*n_x0*256) + 63) / 64 * 64;
    const int64_t off_2 = ws_total; ws_total += ((4*1*n_x0*10) + 63) / 64 * 64;
    const int64_t off_3 = ws_total; ws_total += ((4*1*n_x0*10) + 63) / 64 * 64;
    const int64_t off_4 = ws_total; ws_total += ((4*1*n_x0) + 63) / 64 * 64;
    const int64_t off_5 = ws_total; ws_total += ((4*1*n_x0*256) + 63) / 64 * 64;
    return ws_total;
}

/* The kernels alone, on DEVICE pointers (workspace: graphc_mlp_workspace_bytes). */
GC_EXPORT int graphc_mlp_run_device(void* const* d_inputs, void* const* d_params, void* const* d_results,
        const int64_t* sizes, void* d_workspace) {
    const int64_t n_x0 = sizes[0]; (void)n_x0;
    int64_t ws_total = 0;
    const int64_t off_0 = ws_total; ws_total += ((4*1*n_x0*256) + 63) / 64 * 64;
    const int64_t off_1 = ws_total; ws_total += ((4*1*n_x0*256) + 63) / 64 * 64;
    const int64_t off_2 = ws_total; ws_total += ((4*1*n_x0*10) + 63) / 64 * 64;
    const int64_t off_3 = ws_total; ws_total += ((4*1*n_x0*10) + 63) / 64 * 64;
    const int64_t off_4 = ws_total; ws_total += ((4*1*n_x0) + 63) / 64 * 64;
    const int64_t off_5 = ws_total; ws_total += ((4*1*n_x0*256) + 63) / 64 * 64;
    (void)ws_total;
    char* ws = (char*)d_workspace; (void)ws;
    const float* x = (const float*)d_inputs[0];
    const int64_t* labels = (const int64_t*)d_inputs[1];
    const float* W1 = (const float*)d_params[0];
    const float* b1 = (const float*)d_params[1];
    const float* W2 = (const float*)d_params[2];
    const float* b2 = (const float*)d_params[3];
    float* out0 = (float*)d_results[0];
    float* out1 = (float*)d_results[1];
    float* out2 = (float*)d_results[2];
    float* out3 = (float*)d_results[3];
    float* out4 = (float*)d_results[4];
    float* t0_where = (float*)(ws + off_1);
    float* t1_matmul = (float*)(ws + off_2);
    float* t2_sum = (float*)(ws + off_4);
    float* t3_sub = (float*)(ws + off_3);
    float* t4_matmul = (float*)(ws + off_0);
    float* t5_where = (float*)(ws + off_5);
    GC_LAUNCH(k0_matmul_where_add_greater, dim3(gc_tiles(256), gc_tiles(n_x0), gc_tiles_z(1)), 256, 0, n_x0, b1, x, W1, t4_matmul, t0_where);
    GC_CHECK_LAUNCH(k0_matmul_where_add_greater);
    GC_LAUNCH(k1_matmul, dim3(gc_tiles(10), gc_tiles(n_x0), gc_tiles_z(1)), 256, 0, n_x0, t0_where, W2, t1_matmul);
    GC_CHECK_LAUNCH(k1_matmul);
    GC_LAUNCH(k2_reduce_max_add_sum_exp_etc8, gc_rows((int64_t)(n_x0)), gc_row_threads((int64_t)(10)), 0, n_x0, b2, t1_matmul, labels, t3_sub, t2_sum);
    GC_CHECK_LAUNCH(k2_reduce_max_add_sum_exp_etc8);
    GC_LAUNCH(k3_reduce_sum_neg_div, gc_rows(1), gc_row_threads((int64_t)(n_x0)), 0, n_x0, t2_sum, out0);
    GC_CHECK_LAUNCH(k3_reduce_sum_neg_div);
    GC_LAUNCH(k4_matmul_where_greater_add, dim3(gc_tiles(256), gc_tiles(n_x0), gc_tiles_z(1)), 256, 0, n_x0, b1, t4_matmul, t3_sub, W2, t5_where);
    GC_CHECK_LAUNCH(k4_matmul_where_greater_add);
    GC_LAUNCH(k5_matmul_sub_mul, dim3(gc_tiles(256), gc_tiles(784), gc_tiles_z(1)), 256, 0, n_x0, W1, x, t5_where, out1);
    GC_CHECK_LAUNCH(k5_matmul_sub_mul);
    GC_LAUNCH(k6_reduce_sum_sub_mul, gc_blocks((int64_t)(256), 256), 256, 0, n_x0, b1, t5_where, out2);
    GC_CHECK_LAUNCH(k6_reduce_sum_sub_mul);
    GC_LAUNCH(k7_matmul_sub_mul, dim3(gc_tiles(10), gc_tiles(256), gc_tiles_z(1)), 256, 0, n_x0, W2, t0_where, t3_sub, out3);
    GC_CHECK_LAUNCH(k7_matmul_sub_mul);
    GC_LAUNCH(k8_reduce_sum_sub_mul, gc_blocks((int64_t)(10), 256), 256, 0, n_x0, b2, t3_sub, out4);
    GC_CHECK_LAUNCH(k8_reduce_sum_sub_mul);
    GC_CHECK(gcDeviceSynchronize());
    return 0;
}

/* One call: inputs/params/results are HOST pointers; param_dirty[k] != 0 uploads
 * parameter k (else the device copy from the previous call is used). */
GC_EXPORT int graphc_mlp_run(void* const* inputs, void* const* params, const int* param_dirty,
        void* const* results, const int64_t* sizes) {
    const int64_t n_x0 = sizes[0]; (void)n_x0;
    int64_t ws_total = 0;
    const int64_t off_0 = ws_total; ws_total += ((4*1*n_x0*256) + 63) / 64 * 64;
    const int64_t off_1 = ws_total; ws_total += ((4*1*n_x0*256) + 63) / 64 * 64;
    const int64_t off_2 = ws_total; ws_total += ((4*1*n_x0*10) + 63) / 64 * 64;
    const int64_t off_3 = ws_total; ws_total += ((4*1*n_x0*10) + 63) / 64 * 64;
    const int64_t off_4 = ws_total; ws_total += ((4*1*n_x0) + 63) / 64 * 64;
    const int64_t off_5 = ws_total; ws_total += ((4*1*n_x0*256) + 63) / 64 * 64;
    { const size_t nbytes = ((size_t)784*n_x0 * sizeof(float)); if (gc_ensure(&gc_in[0], &gc_in_cap[0], nbytes) < 0) return -1;
      GC_CHECK(gcMemcpyHtoD(gc_in[0], inputs[0], nbytes)); }
    { const size_t nbytes = ((size_t)n_x0 * sizeof(int64_t)); if (gc_ensure(&gc_in[1], &gc_in_cap[1], nbytes) < 0) return -1;
      GC_CHECK(gcMemcpyHtoD(gc_in[1], inputs[1], nbytes)); }
    { const size_t nbytes = ((size_t)200704 * sizeof(float)); const int fresh = gc_ensure(&gc_par[0], &gc_par_cap[0], nbytes); if (fresh < 0) return -1;
      if (fresh || param_dirty[0]) GC_CHECK(gcMemcpyHtoD(gc_par[0], params[0], nbytes)); }
    { const size_t nbytes = ((size_t)256 * sizeof(float)); const int fresh = gc_ensure(&gc_par[1], &gc_par_cap[1], nbytes); if (fresh < 0) return -1;
      if (fresh || param_dirty[1]) GC_CHECK(gcMemcpyHtoD(gc_par[1], params[1], nbytes)); }
    { const size_t nbytes = ((size_t)2560 * sizeof(float)); const int fresh = gc_ensure(&gc_par[2], &gc_par_cap[2], nbytes); if (fresh < 0) return -1;
      if (fresh || param_dirty[2]) GC_CHECK(gcMemcpyHtoD(gc_par[2], params[2], nbytes)); }
    { const size_t nbytes = ((size_t)10 * sizeof(float)); const int fresh = gc_ensure(&gc_par[3], &gc_par_cap[3], nbytes); if (fresh < 0) return -1;
      if (fresh || param_dirty[3]) GC_CHECK(gcMemcpyHtoD(gc_par[3], params[3], nbytes)); }
    if (gc_ensure(&gc_res[0], &gc_res_cap[0], ((size_t)1 * sizeof(float))) < 0) return -1;
    if (gc_ensure(&gc_res[1], &gc_res_cap[1], ((size_t)200704 * sizeof(float))) < 0) return -1;
    if (gc_ensure(&gc_res[2], &gc_res_cap[2], ((size_t)256 * sizeof(float))) < 0) return -1;
    if (gc_ensure(&gc_res[3], &gc_res_cap[3], ((size_t)2560 * sizeof(float))) < 0) return -1;
    if (gc_ensure(&gc_res[4], &gc_res_cap[4], ((size_t)10 * sizeof(float))) < 0) return -1;
    if (gc_ensure(&gc_ws, &gc_ws_cap, (size_t)ws_total) < 0) return -1;
    { const int gc_rc = graphc_mlp_run_device(gc_in, gc_par, gc_res, sizes, gc_ws); if (gc_rc != 0) return gc_rc; }
    GC_CHECK(gcMemcpyDtoH(results[0], gc_res[0], ((size_t)1 * sizeof(float))));
    GC_CHECK(gcMemcpyDtoH(results[1], gc_res[1], ((size_t)200704 * sizeof(float))));
    GC_CHECK(gcMemcpyDtoH(results[2], gc_res[2], ((size_t)256 * sizeof(float))));
    GC_CHECK(gcMemcpyDtoH(results[3], gc_res[3], ((size_t)2560 * sizeof(float))));
    GC_CHECK(gcMemcpyDtoH(results[4], gc_res[4], ((size_t)10 * sizeof(float))));
    GC_CHECK(gcMemcpyDtoD(gc_par[0], gc_res[1], ((size_t)200704 * sizeof(float))));
    GC_CHECK(gcMemcpyDtoD(gc_par[1], gc_res[2], ((size_t)256 * sizeof(float))));
    GC_CHECK(gcMemcpyDtoD(gc_par[2], gc_res[3], ((size_t)2560 * sizeof(float))));
    GC_CHECK(gcMemcpyDtoD(gc_par[3], gc_res[4], ((size_t)10 * sizeof(float))));
    return 0;
}

GC_EXPORT void graphc_mlp_release(void) {
    for (int k = 0; k < 2; ++k) if (gc_in[k]) { gcFree(gc_in[k]); gc_in[k] = NULL; gc_in_cap[k] = 0; }
    for (int k = 0; k < 4; ++k) if (gc_par[k]) { gcFree(gc_par[k]); gc_par[k] = NULL; gc_par_cap[k] = 0; }
    for (int k = 0; k < 5; ++k) if (gc_res[k]) { gcFree(gc_res[k]); gc_res[k] = NULL; gc_res_cap[k] = 0; }
    for (int k = 0; k < 1; ++k) if (gc_con[k]) { gcFree(gc_con[k]); gc_con[k] = NULL; gc_con_cap[k] = 0; }
    if (gc_ws) { gcFree(gc_ws); gc_ws = NULL; gc_ws_cap = 0; }
}
