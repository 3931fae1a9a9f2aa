// GEMM over row-major float matrices: our own blocked SGEMM (core/sgemm.hpp), with cblas_sgemm
// (OpenBLAS) kept beside it for reference and benchmarks.
#pragma once

#include <cstdint>

#include "core/sgemm.hpp"
#include "core/tensor.hpp"

namespace proact::core {

// C (M,N) = alpha * op(A) (M,K) * op(B) (K,N) + beta * C
// op(X) is X or its transpose. Row-major: lda is the row stride of A as stored
// (A stored (M,K) if !trans_a, (K,M) if trans_a), likewise ldb and ldc.
// Runs core::sgemm, or cblas_sgemm when the environment has PROACT_GEMM=blas (read once, for A/B
// comparisons). Results are bit-identical for any thread count with sgemm, not with BLAS.
// `sums` (core/sgemm.hpp): row_invariant unless M and N are the model's own sizes (weight gradients).
// Throws ValueError for a negative size or a leading dimension below the stored row length.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc, GemmSums sums = GemmSums::row_invariant);

// Whether gemm runs cblas_sgemm (PROACT_GEMM=blas): kernels that reproduce core::sgemm's bits
// without calling it (the direct convolution) step aside then.
bool gemm_uses_blas();

// The same through cblas_sgemm (OpenBLAS), whatever PROACT_GEMM says.
void gemm_blas(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// Matrix product of tensors.
//   a (M,K) x b (K,N)            -> (M,N)
//   a (...,M,K) x b (...,K,N)    -> (...,M,N)   batch axes equal, or b 2-D (shared by every batch)
// trans_a / trans_b use the transpose of the last two axes of a / b instead. Inputs whose last two
// axes are a transposed view are passed to gemm as such, without a copy.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);

}  // namespace proact::core
