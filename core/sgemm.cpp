// Blocked, packed SGEMM (see sgemm.hpp for the contract): the driver (threads, K split, run-time
// choice of the kernel set). The loop nest of one thread's block is in sgemm_block.hpp, the
// microkernels in sgemm_avx512.cpp, sgemm_avx2.cpp, sgemm_generic.cpp, each compiled for its ISA.
// Loop nest of one thread's block of C, outermost first, with what each level keeps where:
//
//   jc: columns of C in blocks of kNc        packed B block (kc x kNc), reused by every ic block
//    pc: K in slices of kc <= kKcMax          first slice applies beta, later ones add (beta = 1)
//     ic: rows of C in blocks of kMc          packed A block (kMc x kc) stays in L2
//      jr: columns in micro-panels of NR      B micro-panel (kc x NR) from L2
//       ir: rows in micro-panels of MR        A micro-panel (kc x MR) from L1/L2
//        microkernel: C tile (MR x NR) in registers += A micro-panel x B micro-panel
//
// Two shape-driven departures, both chosen from (M, N, K) alone:
//   - few rows of C, !trans_b and a B that fits in L3 (conv forward: (6 x 25) x (25 x 50176)): B
//     is not packed, the kernel reads it in place; packing would double the dominant traffic.
//   - A x B^T with a small C and long K (conv dW): dot products along K, in fixed K chunks
//     (AVX-512 and AVX2 sets, in the same bits: sgemm_dot.hpp).
//
// Thread-count invariance: threads own disjoint blocks of whole MR x NR tiles (or whole K chunks),
// and every C element is computed by the same kernel code with one FMA per k in the same order,
// whichever thread computes it.
//
// Kernel choice: at the first call, the best set the CPU supports (__builtin_cpu_supports, which
// also checks that the OS saves the wider registers) or PROACT_GEMM_KERNEL; set_gemm_kernel()
// switches later. The driver's own decisions (thread grid, K split, direct B) do not depend on
// the set, except that the generic set has no dot-product path.
#include "core/sgemm.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "core/error.hpp"
#include "core/sgemm_kernels.hpp"
#include "core/threads.hpp"

namespace proact::core {

using namespace sgemm_detail;

namespace {

// The blocking constants (kKcMax, kMc, kNc) and the direct-B limits are in sgemm_kernels.hpp,
// with their measurements: the kernel sets share them.

// Dot-product path for A x B^T (both contiguous along K) with a small C: M <= kDotMaxM, N <=
// kDotMaxN, K >= kDotMinK. Measured 1.1-2x faster than packing for conv dW shapes (M = 6, 16);
// slower from M = 32 on, where the packed kernel's 8 x 48 register tile reuses loads better.
constexpr int64_t kDotMaxM = 16;
constexpr int64_t kDotMaxN = 256;
constexpr int64_t kDotMinK = 256;

// K split for a small C with a long K (e.g. conv dW (16 x 144) summed over 131072 pixels): K is cut
// into chunks of about kKChunk (at most kMaxChunks of them) whose products are summed in order.
// Used when C has fewer than kSplitMaxTiles MR x NR tiles, too few to keep the threads busy.
constexpr int64_t kKChunk = 2048;
constexpr int64_t kMaxChunks = 64;
constexpr int64_t kSplitMaxTiles = 8;

// With T threads, C is cut into at least kBlocksPerThread * T blocks scheduled dynamically.
constexpr int64_t kBlocksPerThread = 4;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---------------------------------------------------------------------------------------------
// Per-thread pack buffers, 64-byte aligned, grown on demand and kept for the thread's lifetime.

struct AlignedBuffer {
    float* data = nullptr;
    size_t capacity = 0;  // floats
    AlignedBuffer() = default;
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    ~AlignedBuffer() { std::free(data); }
    float* get(size_t floats) {
        if (floats > capacity) {
            std::free(data);
            // Empty until the new block is in hand: after a failed allocation the next call must
            // not be served the freed (or a null) block of the old capacity.
            data = nullptr;
            capacity = 0;
            // round up to the alignment, as aligned_alloc requires
            const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
            data = static_cast<float*>(std::aligned_alloc(64, bytes));
            if (!data) throw std::bad_alloc();
            capacity = bytes / sizeof(float);
        }
        return data;
    }
};

struct PackBuffers {
    AlignedBuffer a;  // (kMc/MR) panels of (kKcMax x MR)
    AlignedBuffer b;  // (kNc/NR) panels of (kKcMax x NR)
};

PackBuffers& pack_buffers() {
    thread_local PackBuffers buffers;
    return buffers;
}

// C (M,N) = beta * C, BLAS style (beta == 0 writes zeros without reading C).
void scale_c(int64_t M, int64_t N, float beta, float* C, int64_t ldc) {
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < M; ++i) {
        float* row = C + i * ldc;
        if (beta == 0.0f)
            std::fill(row, row + N, 0.0f);
        else
            for (int64_t j = 0; j < N; ++j) row[j] *= beta;
    }
}

// Cuts C (row_tiles x col_tiles tiles) into a (row_parts x col_parts) grid of at least `units`
// blocks (fewer if C has fewer tiles), minimising the packing it causes: every column part packs
// all of A's rows (cost M per part) and every row part all of B's columns (N per part, or nothing
// when B is read in place).
void plan_grid(int64_t row_tiles, int64_t col_tiles, int64_t M, int64_t N, bool b_packed, int64_t units,
               int64_t& row_parts, int64_t& col_parts) {
    units = std::min(units, row_tiles * col_tiles);
    row_parts = 1;
    col_parts = std::min(col_tiles, units);
    double best = -1;
    for (int64_t rows = 1; rows <= std::min(row_tiles, units); ++rows) {
        const int64_t cols = std::min(col_tiles, ceil_div(units, rows));
        if (rows * cols < units) continue;
        const double cost = double(cols) * double(M) + (b_packed ? double(rows) * double(N) : 0.0);
        if (best < 0 || cost < best) {
            best = cost;
            row_parts = rows;
            col_parts = cols;
        }
    }
}

// [begin, end) of part `index` of `parts` near-equal parts of `tiles` tiles, in elements (tile
// boundaries are multiples of `tile`, the last one clipped to `size`).
void part_range(int64_t tiles, int64_t parts, int64_t index, int64_t tile, int64_t size, int64_t& begin, int64_t& end) {
    begin = std::min(size, tiles * index / parts * tile);
    end = std::min(size, tiles * (index + 1) / parts * tile);
}

std::vector<float>& split_k_partials() {
    thread_local std::vector<float> partials;
    return partials;
}

// ---------------------------------------------------------------------------------------------
// Run-time choice of the kernel set.

const KernelSet& kernel_set(GemmKernel kernel) {
    switch (kernel) {
        case GemmKernel::avx512: return kAvx512Kernels;
        case GemmKernel::avx2: return kAvx2Kernels;
        case GemmKernel::generic: break;
    }
    return kGenericKernels;
}

GemmKernel initial_kernel() {
    const char* choice = std::getenv("PROACT_GEMM_KERNEL");
    if (choice == nullptr || *choice == '\0') return supported_gemm_kernels().front();
    const GemmKernel kernel = parse_gemm_kernel(choice);
    if (!gemm_kernel_supported(kernel))
        fail<ValueError>("PROACT_GEMM_KERNEL=", choice, ": this CPU cannot run that kernel (supported: ",
                         gemm_kernel_name(supported_gemm_kernels().front()), " and below)");
    return kernel;
}

// The kernel in use, -1 until the first call reads the environment.
std::atomic<int> active_kernel{-1};

// Threads for a product of M x N x K: all of them above kSgemmParallelFlops unless already inside a
// parallel region, else one.
int product_threads(int64_t M, int64_t N, int64_t K) {
    const double flops = 2.0 * double(M) * double(N) * double(K);
    return (flops > kSgemmParallelFlops && !omp_in_parallel()) ? omp_get_max_threads() : 1;
}

// block(i0, i1, j0, j1) for every block of C (M,N): the whole of C on one thread, or several blocks
// per thread handed out dynamically (on a shared machine a thread that loses its core for a while
// then delays the call by one block, not by half the product). b_packed: each block packs its
// columns of op(B) (plan_grid weighs that).
template <class Block>
void for_each_block(int64_t M, int64_t N, int threads, bool b_packed, const Block& block) {
    if (threads <= 1) {
        block(0, M, 0, N);
        return;
    }
    const int64_t row_tiles = ceil_div(M, MR), col_tiles = ceil_div(N, NR);
    int64_t row_parts = 1, col_parts = 1;
    plan_grid(row_tiles, col_tiles, M, N, b_packed, kBlocksPerThread * threads, row_parts, col_parts);
    ExceptionCarrier carrier;  // pack buffers grow on first use in each thread
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t index = 0; index < row_parts * col_parts; ++index) {
        carrier.run([&] {
            int64_t i0, i1, j0, j1;
            part_range(row_tiles, row_parts, index / col_parts, MR, M, i0, i1);
            part_range(col_tiles, col_parts, index % col_parts, NR, N, j0, j1);
            if (i0 < i1 && j0 < j1) block(i0, i1, j0, j1);
        });
    }
    carrier.rethrow();
}

}  // namespace

const char* gemm_kernel_name(GemmKernel kernel) {
    switch (kernel) {
        case GemmKernel::avx512: return "avx512";
        case GemmKernel::avx2: return "avx2";
        case GemmKernel::generic: break;
    }
    return "generic";
}

GemmKernel parse_gemm_kernel(const std::string& name) {
    for (GemmKernel kernel : {GemmKernel::avx512, GemmKernel::avx2, GemmKernel::generic})
        if (name == gemm_kernel_name(kernel)) return kernel;
    fail<ValueError>("GEMM kernel '", name, "' is unknown (expected avx512, avx2 or generic)");
}

bool gemm_kernel_supported(GemmKernel kernel) {
    switch (kernel) {
        case GemmKernel::avx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        case GemmKernel::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        case GemmKernel::generic: break;
    }
    return true;
}

std::vector<GemmKernel> supported_gemm_kernels() {
    std::vector<GemmKernel> kernels;
    for (GemmKernel kernel : {GemmKernel::avx512, GemmKernel::avx2, GemmKernel::generic})
        if (gemm_kernel_supported(kernel)) kernels.push_back(kernel);
    return kernels;
}

GemmKernel gemm_kernel() {
    int kernel = active_kernel.load(std::memory_order_relaxed);
    if (kernel < 0) {
        int unset = -1;
        active_kernel.compare_exchange_strong(unset, static_cast<int>(initial_kernel()));
        kernel = active_kernel.load(std::memory_order_relaxed);
    }
    return static_cast<GemmKernel>(kernel);
}

void set_gemm_kernel(GemmKernel kernel) {
    if (!gemm_kernel_supported(kernel))
        fail<ValueError>("set_gemm_kernel: this CPU cannot run the ", gemm_kernel_name(kernel), " kernel (supported: ",
                         gemm_kernel_name(supported_gemm_kernels().front()), " and below)");
    active_kernel.store(static_cast<int>(kernel), std::memory_order_relaxed);
}

const char* sgemm_kernel_name() { return gemm_kernel_name(gemm_kernel()); }

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, GemmSums sums) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    const int threads = product_threads(M, N, K);
    const int64_t row_tiles = ceil_div(M, MR), col_tiles = ceil_div(N, NR);
    const bool b_cacheable = double(K) * double(N) * sizeof(float) <= kDirectBMaxBytes;
    const KernelSet& kernels = kernel_set(gemm_kernel());
    // The pack buffers of the calling thread (each thread of a parallel region takes its own).
    const auto run_block = [&kernels, b_cacheable](bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha_, const float* a,
                                               int64_t lda_, const float* b, int64_t ldb_, float beta_, float* c, int64_t ldc_) {
        PackBuffers& buffers = pack_buffers();
        kernels.block(ta, tb, m, n, k, alpha_, a, lda_, b, ldb_, beta_, c, ldc_, b_cacheable,
                      buffers.a.get(static_cast<size_t>(a_pack_floats(k))),
                      buffers.b.get(static_cast<size_t>(b_pack_floats(k))), nullptr, 0);
    };

    // Both depend on (M, N, K) only, never on the thread count; neither is taken for row-invariant
    // sums, where a row's order must not depend on M.
    const bool by_shape = sums == GemmSums::by_shape;
    const bool dot = by_shape && kernels.dot_nt != nullptr && !trans_a && trans_b && M <= kDotMaxM && N <= kDotMaxN &&
                     K >= kDotMinK;
    const bool split_k = by_shape && row_tiles * col_tiles < kSplitMaxTiles && K >= 2 * kKChunk;
    if (dot || split_k) {
        // Fixed chunks of K, each a product of its own, then summed in chunk order.
        const int64_t chunks = K >= 2 * kKChunk ? std::min(kMaxChunks, ceil_div(K, kKChunk)) : 1;
        const int64_t chunk = ceil_div(K, chunks);
        std::vector<float>& partials = split_k_partials();
        partials.resize(static_cast<size_t>(chunks * M * N));
        float* partial = partials.data();
        // The pack buffers grow on first use in each thread: an allocation failure there must
        // reach the caller, not end the process from inside the region.
        ExceptionCarrier carrier;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1 && chunks > 1)
        for (int64_t p = 0; p < chunks; ++p) {
            carrier.run([&] {
                const int64_t k0 = p * chunk, k1 = std::min(K, k0 + chunk);
                if (k0 >= k1) return;
                if (dot)
                    kernels.dot_nt(M, N, k1 - k0, A + k0, lda, B + k0, ldb, partial + p * M * N,
                                   pack_buffers().a.get(static_cast<size_t>(M * N * kLanes)));
                else
                    run_block(trans_a, trans_b, M, N, k1 - k0, 1.0f, trans_a ? A + k0 * lda : A + k0, lda,
                              trans_b ? B + k0 : B + k0 * ldb, ldb, 0.0f, partial + p * M * N, N);
            });
        }
        carrier.rethrow();
        for (int64_t i = 0; i < M; ++i) {
            float* row = C + i * ldc;
            for (int64_t j = 0; j < N; ++j) {
                float sum = 0.0f;
                for (int64_t p = 0; p < chunks; ++p)
                    if (p * chunk < K) sum += partial[(p * M + i) * N + j];
                row[j] = beta == 0.0f ? alpha * sum : alpha * sum + beta * row[j];
            }
        }
        return;
    }

    const bool b_packed = trans_b || M > kDirectBMaxRows || !b_cacheable;
    for_each_block(M, N, threads, b_packed, [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
        run_block(trans_a, trans_b, i1 - i0, j1 - j0, K, alpha, trans_a ? A + i0 : A + i0 * lda, lda,
                  trans_b ? B + j0 * ldb : B + j0, ldb, beta, C + i0 * ldc + j0, ldc);
    });
}

void sgemm_from_source(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const GemmBSource& source,
                       float* C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        scale_c(M, N, 0.0f, C, ldc);
        return;
    }
    const KernelSet& kernels = kernel_set(gemm_kernel());
    // Columns [j0, j1) of this product are the source's columns from source.first_column + j0 on;
    // op(B) is always packed.
    for_each_block(M, N, product_threads(M, N, K), true, [&](int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
        PackBuffers& buffers = pack_buffers();
        kernels.block(false, false, i1 - i0, j1 - j0, K, 1.0f, A + i0 * lda, lda, nullptr, 0, 0.0f, C + i0 * ldc + j0,
                      ldc, false, buffers.a.get(static_cast<size_t>(a_pack_floats(K))),
                      buffers.b.get(static_cast<size_t>(b_pack_floats(K))), &source, source.first_column + j0);
    });
}

}  // namespace proact::core
