// Our own single-precision GEMM: blocked and packed in the GotoBLAS / BLIS style.
//
// Why: Debian's OpenBLAS 0.3.21 does not recognise this CPU and runs its SSE3 ("Prescott")
// kernels (~33 GFLOP/s per core); an AVX-512 register-blocked kernel reaches several times that.
//
//   sgemm(false, true, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);   // C (M,N) = A (M,K) x B (N,K)^T
//
// Layout (row-major throughout): C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C.
//   A is stored (M,K) with row stride lda if !trans_a, (K,M) if trans_a; likewise B is stored (K,N)
//   if !trans_b, (N,K) if trans_b; C is stored (M,N) with row stride ldc.
//
// How it works:
//   - op(A) is packed in panels of kSgemmMR rows and op(B) in panels of kSgemmNR columns, each
//     k-major and contiguous, so one microkernel serves all four transpose combinations.
//   - The microkernel keeps an MR x NR tile of C in registers (AVX-512: 8 x 48 = 24 zmm; AVX2: in
//     4 x 24 sub-tiles) and does rank-1 updates over a slice of K (<= 384, sgemm_k_slice). Edge tiles use the same kernel instantiated for
//     fewer rows / vectors, with masked loads and stores: nothing outside the matrices is touched.
//   - Cache blocking for L1 48 KB / L2 2 MB: the A micro-panel (KC x MR) in L1, the packed A block
//     (MC x KC) and the B micro-panels in L2; constants and measurements in sgemm.cpp.
//   - Shape-driven paths, chosen from (M, N, K) alone: with <= 48 rows of C, !trans_b and B under
//     16 MB (conv forward) the kernel reads B in place instead of packing it (same sums); and, only
//     when the caller asks for GemmSums::by_shape (weight gradients), A x B^T with M <= 16,
//     N <= 256 runs as dot products along K, and a small C with a long K splits K into fixed
//     chunks whose products are summed in chunk order.
//   - The microkernel is chosen at run time from what the CPU has (AVX-512, AVX2 + FMA, plain C),
//     so a portable build (PROACT_NATIVE=OFF) still runs its best kernel. PROACT_GEMM_KERNEL=
//     avx512|avx2|generic in the environment (read at the first call) or set_gemm_kernel() force
//     one, for tests and benchmarks. avx512 and avx2 give the same bits (a product, then one FMA
//     per k, in the same order; small A x B^T with long K (conv dW) as the same 16-lane dot
//     products, see sgemm_dot.hpp); generic rounds each multiply and add separately.
//
// Semantics are BLAS's: beta == 0 overwrites C without reading it (NaN in C does not propagate);
// alpha == 0 or K == 0 only scales C by beta (A and B are not read).
//
// Threads: OpenMP with omp_get_max_threads() threads when 2*M*N*K is above kSgemmParallelFlops and
// we are not already inside a parallel region, else one. Threads take blocks of whole MR x NR
// tiles of C (or whole K chunks) dynamically, and how K is cut and summed depends only on
// (M, N, K). So the result is bit-identical for any number of threads (tested).
// Pack buffers are per thread and reused: no allocation per call once they have grown.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace proact::core {

// Register tile of the microkernel: C rows x C columns (columns = 3 AVX-512 vectors of 16 floats).
inline constexpr int64_t kSgemmMR = 8;
inline constexpr int64_t kSgemmNR = 48;

// With at most this many rows of C, !trans_b and a B that fits in cache, sgemm reads op(B) in
// place instead of packing it (see "Shape-driven paths" above).
inline constexpr int64_t kSgemmDirectBMaxRows = 48;

// Below this many flops (2*M*N*K) a call stays on one thread: waking the pool costs more.
inline constexpr double kSgemmParallelFlops = 2e6;

// How each element of C may be summed over K.
//   row_invariant: as the packed kernel sums it (its K slices in order) whatever M and N, so a row
//     of C has the same bits in a product of any number of rows: for rows that are the samples of
//     a batch (linear layers, convolution outputs), whose results must not depend on the batch size.
//   by_shape: sgemm may also take the dot-product path (A x B^T, M <= 16, N <= 256, long K) or cut
//     a long K into chunks for a small C, which are faster there but sum in another order: the bits
//     then depend on (M, N, K). For products whose M and N are the model's own sizes (weight
//     gradients: a convolution's output channels x taps, a linear layer's outputs x inputs).
// Either way the bits do not depend on the thread count.
enum class GemmSums { row_invariant, by_shape };

// C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C. Sizes must be >= 0 and
// lda >= max(1, columns of A as stored), likewise ldb and ldc (checked by core::gemm, not here).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc, GemmSums sums = GemmSums::row_invariant);

// op(B) of a product made on demand instead of stored, for C = A x op(B) (row_invariant sums):
// pack(context, k0, kc, j0, nc, dst) writes rows [k0, k0 + kc) x columns [j0, j0 + nc) of op(B)
// into dst as sgemm packs a block of a stored B, i.e. panel p (columns j0 + p*kSgemmNR on) at
// dst + p*kSgemmNR*kc, each (kc, kSgemmNR) row-major, the columns of the last panel past nc zeroed
// up to the next multiple of 16. Called from several threads at once, each with its own dst.
// A convolution's im2col (core/im2col.hpp) writes its columns straight into the packed panels
// this way: no whole (CKK, columns) matrix is written out and read back to be packed.
// first_column: column 0 of the product is the source's column first_column (a group of images).
struct GemmBSource {
    void (*pack)(const void* context, int64_t k0, int64_t kc, int64_t j0, int64_t nc, float* dst) = nullptr;
    const void* context = nullptr;
    int64_t first_column = 0;
};

// C (M,N) = A (M,K) x op(B) (K,N), op(B) from `source`: the same bits as sgemm(false, false, M, N,
// K, 1, A, lda, B, N, 0, C, ldc) on the stored op(B) (the kernels see the same packed values and
// do the same FMAs), at any thread count.
void sgemm_from_source(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const GemmBSource& source,
                       float* C, int64_t ldc);

// The K-slice rule: a K-long product is cut into equal slices of at most kSgemmKcMax, a multiple
// of 8 (the packing transposes 8 x 8 blocks), each summed as its own chain (a product, then
// multiply-adds) and added to C in order. A function of K alone, for thread-count invariance.
// Anything that must reproduce sgemm's bits (core/conv_channels.cpp) uses this one definition.
inline constexpr int64_t kSgemmKcMax = 384;
constexpr int64_t sgemm_k_slice(int64_t K) {
    const int64_t slices = (K + kSgemmKcMax - 1) / kSgemmKcMax;
    return std::min(kSgemmKcMax, ((K + slices - 1) / slices + 7) / 8 * 8);
}

// The microkernels, best last.
enum class GemmKernel { generic, avx2, avx512 };

const char* gemm_kernel_name(GemmKernel kernel);  // "generic", "avx2", "avx512"
// Throws ValueError for a name that is none of those.
GemmKernel parse_gemm_kernel(const std::string& name);
bool gemm_kernel_supported(GemmKernel kernel);  // by this CPU (and OS)
// The kernels this CPU can run, best first (generic always last).
std::vector<GemmKernel> supported_gemm_kernels();

// The kernel sgemm uses: PROACT_GEMM_KERNEL if set (ValueError if unknown or unsupported here),
// else the best supported one.
GemmKernel gemm_kernel();
// Use `kernel` from now on, in every thread. Throws ValueError if this CPU cannot run it.
void set_gemm_kernel(GemmKernel kernel);
// Name of the kernel in use (gemm_kernel_name(gemm_kernel())).
const char* sgemm_kernel_name();

// Uses `kernel` for its lifetime, then restores the previous one (tests, benchmarks).
class GemmKernelScope {
public:
    explicit GemmKernelScope(GemmKernel kernel) : saved_(gemm_kernel()) { set_gemm_kernel(kernel); }
    ~GemmKernelScope() { set_gemm_kernel(saved_); }
    GemmKernelScope(const GemmKernelScope&) = delete;
    GemmKernelScope& operator=(const GemmKernelScope&) = delete;

private:
    GemmKernel saved_;
};

}  // namespace proact::core
