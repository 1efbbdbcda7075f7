/* graphc_cuda_emu.h: CUDA semantics on the CPU, in C++20 (part of graphc).
 *
 * Included by graphc_cuda.h when the compiler is not nvcc (no __CUDACC__), so the
 * SAME .cu text builds with `c++ -std=c++20 -x c++ -pthread`. Do not include it
 * directly; include "graphc_cuda.h".
 *
 * Execution model
 *   GC_LAUNCH(kernel, grid, block, shmem, args...) runs the whole grid before it
 *   returns (like a launch followed by cudaDeviceSynchronize). Blocks are shared
 *   out to a few OS worker threads (GRAPHC_EMU_WORKERS, default: the number of
 *   CPUs); the threads of one block all run on ONE worker, as fibers: a thread
 *   runs until it reaches __syncthreads / __syncwarp / a warp shuffle / a vote,
 *   then the next thread runs. A kernel that never synchronises therefore costs
 *   one plain function call per CUDA thread (no context switch at all), and a
 *   barrier costs one user-space context switch per waiting thread (~20-50 ns).
 *   threadIdx/blockIdx/blockDim/gridDim are macros reading the running fiber's
 *   header, located from the stack pointer (fiber stacks are GC_EMU_STACK_BYTES,
 *   default 256 KiB, aligned mappings with a guard page): only call kernels and
 *   __device__ code that reads them through GC_LAUNCH.
 *   Consequences that kernels may rely on:
 *     - `__shared__ T x[N];` works (it expands to `static thread_local`: all
 *       threads of a block share a worker, and a worker runs one block at a time).
 *       Its contents are undefined at block start, as on a GPU.
 *     - Dynamic shared memory: GC_DYNAMIC_SHARED(T, name) (16-byte aligned),
 *       sized by the launch's shmem argument.
 *     - __syncthreads() is a barrier over the block's threads that have not
 *       exited (a thread that returned early no longer counts, as on Volta+).
 *     - Warp operations (__shfl*_sync, __syncwarp, __ballot_sync, __any_sync,
 *       __all_sync) synchronise the 32 lanes of the caller's warp (lanes are
 *       consecutive linear thread ids). A source lane outside the block returns
 *       the caller's own value. The mask argument is ignored (full warp).
 *     - atomics are real atomics (std::atomic_ref): blocks run in parallel.
 *   Not emulated: implicit warp-synchronous code (lanes exchanging data through
 *   shared memory with no __syncwarp between steps: incorrect since Volta anyway),
 *   streams and events, cooperative groups, textures, dynamic parallelism.
 *   Launch errors (block > 1024 threads or > 1024/1024/64 per dim, empty grid,
 *   grid.y/z > 65535, shmem > 227 KiB) and deadlocks (threads waiting at a
 *   barrier that can never complete) do not run (the rest of) the kernel and
 *   are reported by gcGetLastError(), as cudaGetLastError() would.
 *
 * Portability: x86-64 Linux uses a 20-line assembly context switch; elsewhere
 * (or with -DGC_EMU_UCONTEXT) POSIX ucontext is used (about 10x slower switches).
 */
#ifndef GRAPHC_CUDA_EMU_H
#define GRAPHC_CUDA_EMU_H

#if defined(__CUDACC__)
#error "graphc_cuda_emu.h is the CPU emulation of CUDA; under nvcc include graphc_cuda.h"
#endif
#if !defined(__cplusplus) || __cplusplus < 202002L
#error "graphc_cuda_emu.h needs C++20 (compile the .cu with: c++ -std=c++20 -x c++ -pthread)"
#endif

#include <math.h>     /* C++ <math.h>: float/double overloads of exp, log... in :: */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#if !defined(GC_EMU_UCONTEXT) && !(defined(__x86_64__) && defined(__linux__))
#define GC_EMU_UCONTEXT 1
#endif
#ifdef GC_EMU_UCONTEXT
#include <ucontext.h>
#endif

/* Everything in here is private to the shared library that includes it: every
 * compiled graph carries its own copy, and copies never interpose each other. */
#pragma GCC visibility push(hidden)

/* ---- CUDA keywords ------------------------------------------------------------- */
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) alignas(n)
#define __shared__ static thread_local
/* __restrict__ is understood by g++ and clang++ natively. */

/* ---- built-in vector types and indices --------------------------------------------- */
struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline dim3 make_dim3(unsigned x, unsigned y, unsigned z) { return dim3(x, y, z); }

constexpr int warpSize = 32;
/* threadIdx, blockIdx, blockDim, gridDim: macros defined below (they read the
 * running fiber's header, found from the stack pointer: no thread_local lookups). */

/* ---- device-memory API (host memory here) and errors ------------------------------- */
typedef enum gcError_t {
    gcSuccess = 0,
    gcErrorInvalidValue = 1,
    gcErrorMemoryAllocation = 2,
    gcErrorInvalidConfiguration = 9,
    gcErrorLaunchFailure = 719,
} gcError_t;

namespace gc_emu {
inline thread_local gcError_t last_error = gcSuccess;
inline thread_local char last_error_detail[512];

inline void set_error(gcError_t e, const char* fmt, const char* a = "", long long b = 0,
                      long long c = 0, long long d = 0) {
    if (last_error == gcSuccess) {  /* sticky until read, first error wins */
        last_error = e;
        snprintf(last_error_detail, sizeof last_error_detail, fmt, a, b, c, d);
    }
}
}  // namespace gc_emu

inline const char* gcGetErrorString(gcError_t e) {
    switch (e) {
        case gcSuccess: return "no error";
        case gcErrorInvalidValue: return "invalid argument";
        case gcErrorMemoryAllocation: return "out of memory";
        case gcErrorInvalidConfiguration:
            return gc_emu::last_error_detail[0] ? gc_emu::last_error_detail
                                               : "invalid configuration argument";
        case gcErrorLaunchFailure:
            return gc_emu::last_error_detail[0] ? gc_emu::last_error_detail
                                               : "unspecified launch failure";
    }
    return "unknown error";
}
/* Returns and clears the calling host thread's last error (cudaGetLastError). */
inline gcError_t gcGetLastError(void) {
    gcError_t e = gc_emu::last_error;
    gc_emu::last_error = gcSuccess;
    return e;
}
inline gcError_t gcPeekAtLastError(void) { return gc_emu::last_error; }
inline gcError_t gcMalloc(void** p, size_t bytes) {
    /* 256-byte alignment like cudaMalloc, so vector loads behave the same. */
    *p = aligned_alloc(256, ((bytes ? bytes : 1) + 255) / 256 * 256);
    return *p ? gcSuccess : gcErrorMemoryAllocation;
}
inline gcError_t gcFree(void* p) { free(p); return gcSuccess; }
inline gcError_t gcMemcpyHtoD(void* dst, const void* src, size_t n) { if (n) memcpy(dst, src, n); return gcSuccess; }
inline gcError_t gcMemcpyDtoH(void* dst, const void* src, size_t n) { if (n) memcpy(dst, src, n); return gcSuccess; }
inline gcError_t gcMemcpyDtoD(void* dst, const void* src, size_t n) { if (n) memmove(dst, src, n); return gcSuccess; }
inline gcError_t gcMemset(void* dst, int value, size_t n) { if (n) memset(dst, value, n); return gcSuccess; }
/* Launches run synchronously; only a failed (deadlocked) launch shows here. */
inline gcError_t gcDeviceSynchronize(void) {
    return gc_emu::last_error == gcErrorLaunchFailure ? gcErrorLaunchFailure : gcSuccess;
}

/* ---- the block scheduler (fibers on worker threads) ------------------------------ */
namespace gc_emu {

#ifndef GC_EMU_STACK_BYTES
#define GC_EMU_STACK_BYTES (256 * 1024)
#endif
static_assert((GC_EMU_STACK_BYTES & (GC_EMU_STACK_BYTES - 1)) == 0 && GC_EMU_STACK_BYTES >= 65536,
              "GC_EMU_STACK_BYTES must be a power of two >= 64 KiB");

struct Worker;

/* A fiber lives at the base of its own GC_EMU_STACK_BYTES-aligned mapping:
 * [guard page | stack ... | this header]. Code running on the fiber finds its
 * header from the stack pointer (see self()), which is how threadIdx is read. */
struct Fiber {
    Worker* w = nullptr;
    uint3 tidx{0, 0, 0};
    unsigned tid = 0;           /* linear id of the CUDA thread it runs */
    void* sp = nullptr;         /* saved stack pointer (assembly switch) */
#ifdef GC_EMU_UCONTEXT
    ucontext_t uc;
#endif
};

/* Layout of a fiber's mapping: [guard page | stack ... | header]; the stack
 * grows down from just below the header. The header's offset from the top
 * depends on the mapping's address ("cache colouring"): at one fixed offset,
 * every fiber's hot lines (header + top of stack) would fall into the same
 * cache sets and evict each other at each switch. */
inline constexpr uintptr_t kColourStride = 256;
inline constexpr uintptr_t kColours =
    GC_EMU_STACK_BYTES / 4 / kColourStride < 256 ? GC_EMU_STACK_BYTES / 4 / kColourStride : 256;
inline constexpr uintptr_t kHeaderBytes = (sizeof(Fiber) + 63) & ~(uintptr_t)63;

__attribute__((always_inline)) inline uintptr_t header_address(uintptr_t base) {
    uintptr_t colour = (base / GC_EMU_STACK_BYTES) % kColours;
    return base + GC_EMU_STACK_BYTES - kHeaderBytes - colour * kColourStride;
}
__attribute__((always_inline)) inline Fiber* self() {
    uintptr_t base = (uintptr_t)__builtin_frame_address(0) & ~(uintptr_t)(GC_EMU_STACK_BYTES - 1);
    return reinterpret_cast<Fiber*>(header_address(base));
}

struct Barrier {
    unsigned expected = 0;      /* threads of the group that have not exited */
    unsigned arrived = 0;
    std::vector<Fiber*> waiters;
};

/* Type-erased "run the kernel body for the current thread". */
struct Invoker {
    void (*call)(const void*);
    const void* state;
};

enum { kMaxBlockThreads = 1024, kMaxWarps = kMaxBlockThreads / 32 };
inline constexpr size_t kMaxSharedBytes = 227 * 1024;

struct Worker {
    std::vector<Fiber*> fibers;  /* never freed: workers are pooled for the process */
    std::vector<Fiber*> idle;
    std::deque<Fiber*> runnable;
    void* main_sp = nullptr;
#ifdef GC_EMU_UCONTEXT
    ucontext_t main_uc;
#endif
    /* the block being run */
    const Invoker* invoker = nullptr;
    uint3 bidx{0, 0, 0};
    dim3 bdim, gdim;
    unsigned nthreads = 0, next_unstarted = 0, exited = 0;
    bool failed = false;
    Barrier block_bar;
    Barrier warp_bar[kMaxWarps];
    uint64_t warp_scratch[kMaxWarps][32];
    unsigned char* dyn_smem = nullptr;
    size_t dyn_smem_size = 0;
};

}  // namespace gc_emu

#define threadIdx (gc_emu::self()->tidx)
#define blockIdx (gc_emu::self()->w->bidx)
#define blockDim (gc_emu::self()->w->bdim)
#define gridDim (gc_emu::self()->w->gdim)

#ifndef GC_EMU_UCONTEXT
/* void gc_emu_ctx_switch(void** save_sp, void* load_sp): push the callee-saved
 * registers, store sp, load the other sp, pop, return into the other context. */
extern "C" void gc_emu_ctx_switch(void** save_sp, void* load_sp);
__asm__(
    ".pushsection .text\n"
    ".p2align 4\n"
    ".type gc_emu_ctx_switch, @function\n"
    "gc_emu_ctx_switch:\n"
    "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
    "  ret\n"
    ".size gc_emu_ctx_switch, .-gc_emu_ctx_switch\n"
    ".popsection\n");
#endif

namespace gc_emu {

[[noreturn]] void fiber_main();

inline void fiber_entry_c() { fiber_main(); }

/* (Re)start a fiber: its next switch-in enters fiber_main from the top. */
inline void start_fiber(Fiber* f) {
    uintptr_t b = (uintptr_t)f & ~(uintptr_t)(GC_EMU_STACK_BYTES - 1);
    char* base = reinterpret_cast<char*>(b);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
#ifdef GC_EMU_UCONTEXT
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = base + page;
    f->uc.uc_stack.ss_size = (size_t)((char*)f - base) - page;
    f->uc.uc_link = nullptr;
    makecontext(&f->uc, (void (*)())fiber_entry_c, 0);
#else
    (void)page; (void)base;
    uint64_t* sp = reinterpret_cast<uint64_t*>(f);  /* 64-byte aligned, below the header */
    *--sp = 0;                                   /* fiber_main never returns */
    *--sp = (uint64_t)(uintptr_t)&fiber_entry_c;  /* `ret` target */
    for (int i = 0; i < 6; ++i) *--sp = 0;       /* rbp rbx r12-r15 */
    f->sp = sp;
#endif
}

/* A new fiber in a fresh aligned mapping, or nullptr when out of memory. */
inline Fiber* new_fiber(Worker* w) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE), size = GC_EMU_STACK_BYTES;
    void* raw = mmap(nullptr, 2 * size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    uintptr_t r = (uintptr_t)raw, a = (r + size - 1) & ~(uintptr_t)(size - 1);
    if (a > r) munmap(raw, a - r);
    if (r + 2 * size > a + size) munmap((void*)(a + size), r + 2 * size - (a + size));
    mprotect((void*)a, page, PROT_NONE);  /* stack overflow faults, never corrupts */
    Fiber* f = new ((void*)header_address(a)) Fiber();
    f->w = w;
    start_fiber(f);
    w->fibers.push_back(f);
    return f;
}

/* Switch from `from` (nullptr: the worker's own stack) to `to` (nullptr: back to it). */
inline void go(Worker* w, Fiber* from, Fiber* to) {
#ifdef GC_EMU_UCONTEXT
    swapcontext(from ? &from->uc : &w->main_uc, to ? &to->uc : &w->main_uc);
#else
    gc_emu_ctx_switch(from ? &from->sp : &w->main_sp, to ? to->sp : w->main_sp);
#endif
}

/* The next fiber to run on this worker, or nullptr (block done, or stuck). */
inline Fiber* pick(Worker* w) {
    if (!w->runnable.empty()) {
        Fiber* f = w->runnable.front();
        w->runnable.pop_front();
        return f;
    }
    if (w->next_unstarted < w->nthreads) {
        if (!w->idle.empty()) {
            Fiber* f = w->idle.back();
            w->idle.pop_back();
            return f;
        }
        return new_fiber(w);
    }
    return nullptr;
}

/* Leave `me` (parked in a wait list, or idle) and run something else. */
inline void switch_away(Worker* w, Fiber* me) {
    Fiber* next = pick(w);
    if (next == me) return;
    if (!next && w->exited < w->nthreads) w->failed = true;  /* nobody can make progress */
    go(w, me, next);
}

inline void release(Worker* w, Barrier& b) {
    b.arrived = 0;
    for (Fiber* f : b.waiters) w->runnable.push_back(f);
    b.waiters.clear();
}

inline void barrier_wait(Fiber* me, Barrier& b) {
    Worker* w = me->w;
    if (++b.arrived >= b.expected) { release(w, b); return; }
    b.waiters.push_back(me);
    switch_away(w, me);
}

inline void thread_exited(Worker* w, unsigned t) {
    ++w->exited;
    Barrier* groups[2] = {&w->block_bar, &w->warp_bar[t / 32]};
    for (Barrier* b : groups) {
        --b->expected;
        if (b->arrived && b->arrived >= b->expected) release(w, *b);
    }
}

[[noreturn]] inline void fiber_main() {
    Fiber* me = self();
    Worker* w = me->w;
    for (;;) {
        /* A fiber carries CUDA threads one after another until one of them
         * blocks at a barrier; the next thread then starts on another fiber. */
        while (w->next_unstarted < w->nthreads) {
            unsigned t = w->next_unstarted++;
            me->tid = t;
            if (w->bdim.y == 1 && w->bdim.z == 1) {
                me->tidx = uint3{t, 0, 0};
            } else {
                me->tidx = uint3{t % w->bdim.x, (t / w->bdim.x) % w->bdim.y,
                                 t / (w->bdim.x * w->bdim.y)};
            }
            w->invoker->call(w->invoker->state);
            thread_exited(w, t);
        }
        w->idle.push_back(me);
        switch_away(w, me);
    }
}

/* Put every fiber back at the start of fiber_main. Done at each launch because a
 * pooled worker may run on another OS thread than last time, and code suspended
 * on a fiber may hold addresses of the old thread's thread_local variables. */
inline void reset_fibers(Worker* w) {
    w->runnable.clear();
    w->block_bar.waiters.clear();
    for (auto& b : w->warp_bar) b.waiters.clear();
    w->idle.clear();
    for (Fiber* f : w->fibers) { start_fiber(f); w->idle.push_back(f); }
}

/* Run one block on worker w; false on deadlock or failure. */
inline bool run_block(Worker* w, size_t linear_block) {
    w->bidx.x = (unsigned)(linear_block % w->gdim.x);
    w->bidx.y = (unsigned)((linear_block / w->gdim.x) % w->gdim.y);
    w->bidx.z = (unsigned)(linear_block / ((size_t)w->gdim.x * w->gdim.y));
    w->next_unstarted = 0;
    w->exited = 0;
    w->failed = false;
    w->block_bar.expected = w->nthreads;
    w->block_bar.arrived = 0;
    for (unsigned k = 0; k < kMaxWarps; ++k) {
        unsigned lo = k * 32;
        w->warp_bar[k].expected = lo >= w->nthreads ? 0 : std::min(32u, w->nthreads - lo);
        w->warp_bar[k].arrived = 0;
    }
    Fiber* first = pick(w);
    if (!first) return false;
    go(w, nullptr, first);
    if (w->failed || w->exited < w->nthreads) {
        reset_fibers(w);  /* abandon the stuck threads */
        return false;
    }
    return true;
}

inline std::mutex& pool_mutex() { static std::mutex m; return m; }
inline std::vector<Worker*>& pool() { static std::vector<Worker*> p; return p; }

/* Workers (with their fiber stacks) are reused across launches; never freed,
 * so nothing runs at library unload or process exit. */
inline Worker* acquire_worker() {
    std::lock_guard<std::mutex> lock(pool_mutex());
    if (pool().empty()) return new Worker();
    Worker* w = pool().back();
    pool().pop_back();
    return w;
}
inline void release_worker(Worker* w) {
    std::lock_guard<std::mutex> lock(pool_mutex());
    pool().push_back(w);
}

inline unsigned worker_count() {
    static const unsigned n = [] {
        const char* s = getenv("GRAPHC_EMU_WORKERS");
        long v = s ? atol(s) : (long)std::thread::hardware_concurrency();
        return (unsigned)(v < 1 ? 1 : (v > 256 ? 256 : v));
    }();
    return n;
}

inline void run_grid(const char* name, dim3 grid, dim3 block, size_t shmem, const Invoker& inv) {
    unsigned long long nthreads = (unsigned long long)block.x * block.y * block.z;
    if (block.x == 0 || block.y == 0 || block.z == 0 || nthreads > kMaxBlockThreads ||
        block.x > 1024 || block.y > 1024 || block.z > 64) {
        set_error(gcErrorInvalidConfiguration,
                  "invalid configuration argument: kernel %s launched with blockDim (%lld, %lld, %lld)"
                  " (at most 1024 threads per block, dims <= 1024 x 1024 x 64)",
                  name, block.x, block.y, block.z);
        return;
    }
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535 ||
        grid.x > 2147483647u) {
        set_error(gcErrorInvalidConfiguration,
                  "invalid configuration argument: kernel %s launched with gridDim (%lld, %lld, %lld)",
                  name, grid.x, grid.y, grid.z);
        return;
    }
    if (shmem > kMaxSharedBytes) {
        set_error(gcErrorInvalidValue,
                  "invalid argument: kernel %s asks for %lld bytes of dynamic shared memory (max %lld)",
                  name, (long long)shmem, (long long)kMaxSharedBytes);
        return;
    }
    size_t nblocks = (size_t)grid.x * grid.y * grid.z;
    unsigned nworkers = (unsigned)std::min<size_t>(worker_count(), nblocks);
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    auto work = [&]() {
        Worker* w = acquire_worker();
        reset_fibers(w);
        w->invoker = &inv;
        w->gdim = grid;
        w->bdim = block;
        w->nthreads = (unsigned)nthreads;
        if (w->dyn_smem_size < shmem) {
            free(w->dyn_smem);
            w->dyn_smem = (unsigned char*)aligned_alloc(64, (shmem + 63) / 64 * 64);
            w->dyn_smem_size = w->dyn_smem ? shmem : 0;
        }
        while (!failed.load(std::memory_order_relaxed)) {
            size_t i = next.fetch_add(1);
            if (i >= nblocks) break;
            if (!run_block(w, i)) failed = true;
        }
        release_worker(w);
    };
    std::vector<std::thread> helpers;
    try {
        for (unsigned k = 1; k < nworkers; ++k) helpers.emplace_back(work);
    } catch (...) {
        /* no more OS threads: the ones we have (at least this one) do all blocks */
    }
    work();
    for (auto& t : helpers) t.join();
    if (failed)
        set_error(gcErrorLaunchFailure,
                  "unspecified launch failure: kernel %s deadlocked (threads of a block wait at "
                  "__syncthreads or a warp operation that the others never reach)", name);
}

template <class... P, class... A>
inline void launch(const char* name, dim3 grid, dim3 block, size_t shmem, void (*kernel)(P...),
                   A&&... args) {
    struct State {
        void (*k)(P...);
        std::tuple<std::decay_t<P>...> a;
    } state{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
    Invoker inv{[](const void* s) {
                    const State* st = static_cast<const State*>(s);
                    std::apply(st->k, st->a);
                }, &state};
    run_grid(name, grid, block, shmem, inv);
}

/* Warp exchange: every lane of the caller's warp publishes v, then reads lane src. */
template <class T>
inline T exchange(T v, int src, bool take) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "warp exchange of <= 8 bytes");
    Fiber* me = self();
    Worker* w = me->w;
    unsigned t = me->tid, warp = t / 32, lane = t % 32;
    memcpy(&w->warp_scratch[warp][lane], &v, sizeof(T));
    barrier_wait(me, w->warp_bar[warp]);
    T r = v;
    if (take && src >= 0 && src < 32 && warp * 32 + (unsigned)src < w->nthreads)
        memcpy(&r, &w->warp_scratch[warp][src], sizeof(T));
    barrier_wait(me, w->warp_bar[warp]);
    return r;
}

inline unsigned lanes_mask(Worker* w, unsigned warp) {
    unsigned n = std::min(32u, w->nthreads - warp * 32);
    return n == 32 ? 0xffffffffu : ((1u << n) - 1u);
}

}  // namespace gc_emu

/* ---- launch -------------------------------------------------------------------- */
#define GC_EMU_LAUNCH(kernel, grid, block, shmem, ...) \
    gc_emu::launch(#kernel, (grid), (block), (size_t)(shmem), (kernel), ##__VA_ARGS__)

/* ---- synchronisation, warps, votes ------------------------------------------------ */
inline void __syncthreads() {
    gc_emu::Fiber* me = gc_emu::self();
    gc_emu::barrier_wait(me, me->w->block_bar);
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
    (void)mask;
    gc_emu::Fiber* me = gc_emu::self();
    gc_emu::barrier_wait(me, me->w->warp_bar[me->tid / 32]);
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline unsigned __activemask() {
    gc_emu::Fiber* me = gc_emu::self();
    return gc_emu::lanes_mask(me->w, me->tid / 32);
}

template <class T>
inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
    (void)mask;
    int lane = (int)(gc_emu::self()->tid % 32);
    int src = (lane & ~(width - 1)) + (src_lane & (width - 1));
    return gc_emu::exchange(v, src, true);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    (void)mask;
    int lane = (int)(gc_emu::self()->tid % 32);
    bool ok = (lane & (width - 1)) >= (int)delta;
    return gc_emu::exchange(v, lane - (int)delta, ok);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    (void)mask;
    int lane = (int)(gc_emu::self()->tid % 32);
    bool ok = (lane & (width - 1)) + (int)delta < width;
    return gc_emu::exchange(v, lane + (int)delta, ok);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    (void)mask;
    int lane = (int)(gc_emu::self()->tid % 32);
    int src = lane ^ lane_mask;
    bool ok = src < ((lane / width) + 1) * width;  /* later groups: own value */
    return gc_emu::exchange(v, src, ok);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
    (void)mask;
    gc_emu::Fiber* me = gc_emu::self();
    gc_emu::Worker* w = me->w;
    unsigned t = me->tid, warp = t / 32, lane = t % 32;
    w->warp_scratch[warp][lane] = pred ? 1u : 0u;
    gc_emu::barrier_wait(me, w->warp_bar[warp]);
    unsigned bits = 0, n = std::min(32u, w->nthreads - warp * 32);
    for (unsigned k = 0; k < n; ++k) bits |= (w->warp_scratch[warp][k] ? 1u : 0u) << k;
    gc_emu::barrier_wait(me, w->warp_bar[warp]);
    return bits;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) {
    gc_emu::Fiber* me = gc_emu::self();
    unsigned full = gc_emu::lanes_mask(me->w, me->tid / 32);
    return __ballot_sync(mask, pred) == full;
}

/* ---- atomics (device-wide: blocks run on several OS threads) ---------------------- */
template <class T>
inline T atomicAdd(T* p, T v) {
    std::atomic_ref<T> a(*p);
    if constexpr (std::is_floating_point_v<T>) {  /* CAS loop: not every libc++ has fetch_add */
        T old = a.load(std::memory_order_relaxed);
        while (!a.compare_exchange_weak(old, old + v)) {}
        return old;
    } else {
        return a.fetch_add(v);
    }
}
template <class T>
inline T atomicSub(T* p, T v) { return atomicAdd(p, (T)-v); }
template <class T>
inline T atomicExch(T* p, T v) { return std::atomic_ref<T>(*p).exchange(v); }
template <class T>
inline T atomicCAS(T* p, T expected, T desired) {
    std::atomic_ref<T>(*p).compare_exchange_strong(expected, desired);
    return expected;  /* the old value, whether or not it was swapped */
}
template <class T>
inline T atomicMax(T* p, T v) {
    std::atomic_ref<T> a(*p);
    T old = a.load();
    while (old < v && !a.compare_exchange_weak(old, v)) {}
    return old;
}
template <class T>
inline T atomicMin(T* p, T v) {
    std::atomic_ref<T> a(*p);
    T old = a.load();
    while (v < old && !a.compare_exchange_weak(old, v)) {}
    return old;
}

/* ---- intrinsics ---------------------------------------------------------------- */
template <class T>
inline T __ldg(const T* p) { return *p; }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __saturatef(float x) { return x != x ? 0.0f : (x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x)); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline unsigned __float_as_uint(float x) { return std::bit_cast<unsigned>(x); }
inline float __uint_as_float(unsigned x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __clzll(long long x) { return x ? __builtin_clzll((unsigned long long)x) : 64; }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
/* CUDA's overloaded min/max for device code. */
inline int max(int a, int b) { return a > b ? a : b; }
inline int min(int a, int b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline float max(float a, float b) { return fmaxf(a, b); }
inline float min(float a, float b) { return fminf(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline double min(double a, double b) { return fmin(a, b); }

/* Dynamic shared memory of the running block (size given at launch). */
template <class T>
inline T* gc_emu_dynamic_shared() { return reinterpret_cast<T*>(gc_emu::self()->w->dyn_smem); }

#pragma GCC visibility pop

#endif /* GRAPHC_CUDA_EMU_H */
