#include "core/gemm.hpp"

#include <cblas.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "core/sgemm.hpp"

namespace proact::core {

namespace {

// Argument checks shared by both back ends. A leading dimension must be at least the stored row
// length (BLAS's rule), so that a wrong stride fails here rather than reading out of bounds; only
// operands that are read are checked (an empty product reads nothing, K == 0 reads only C).
void check_gemm_args(const char* name, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda,
                     int64_t ldb, int64_t ldc) {
    if (M < 0 || N < 0 || K < 0) fail<ValueError>(name, ": negative size M=", M, " N=", N, " K=", K);
    if (M == 0 || N == 0) return;
    if (ldc < N) fail<ValueError>(name, ": ldc=", ldc, " is below N=", N);
    if (K == 0) return;
    const int64_t a_cols = trans_a ? M : K, b_cols = trans_b ? K : N;
    if (lda < a_cols) fail<ValueError>(name, ": lda=", lda, " is below the row length ", a_cols, " of A");
    if (ldb < b_cols) fail<ValueError>(name, ": ldb=", ldb, " is below the row length ", b_cols, " of B");
}

// PROACT_GEMM=blas routes gemm to cblas_sgemm; read once, at the first call.
bool use_blas() {
    static const bool blas = [] {
        const char* choice = std::getenv("PROACT_GEMM");
        return choice != nullptr && std::strcmp(choice, "blas") == 0;
    }();
    return blas;
}

}  // namespace

bool gemm_uses_blas() { return use_blas(); }

void gemm_blas(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
    check_gemm_args("gemm_blas", trans_a, trans_b, M, N, K, lda, ldb, ldc);
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX)
        fail<ValueError>("gemm_blas: sizes exceed the BLAS int range (M=", M, " N=", N, " K=", K, ")");
    if (M == 0 || N == 0) return;
    if (K == 0) {
        // BLAS leaves C untouched for K=0 with beta=1 but some builds read A/B: do it by hand.
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda), B,
                static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc, GemmSums sums) {
    if (use_blas()) {
        gemm_blas(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    check_gemm_args("gemm", trans_a, trans_b, M, N, K, lda, ldb, ldc);
    sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, sums);
}

namespace {

// How a (rows, cols) matrix view can be handed to BLAS: row-major with leading dimension `ld`,
// possibly transposed. Returns false if neither axis has unit stride (caller copies).
struct MatrixView {
    bool transposed;
    int64_t ld;
};

bool as_blas_matrix(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride, MatrixView& view) {
    if (col_stride == 1 || cols == 1) {
        view = {false, std::max<int64_t>(rows == 1 ? cols : row_stride, std::max<int64_t>(cols, 1))};
        return true;
    }
    if (row_stride == 1 || rows == 1) {
        view = {true, std::max<int64_t>(cols == 1 ? rows : col_stride, std::max<int64_t>(rows, 1))};
        return true;
    }
    return false;
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in, bool trans_a, bool trans_b) {
    if (a_in.dim() < 2 || b_in.dim() < 2)
        fail<ShapeError>("matmul: inputs need at least 2 axes, got ", shape_str(a_in.shape()), " and ",
                         shape_str(b_in.shape()));
    Tensor a = trans_a ? a_in.transpose(-1, -2) : a_in;
    Tensor b = trans_b ? b_in.transpose(-1, -2) : b_in;
    const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
    if (b.size(-2) != K)
        fail<ShapeError>("matmul: inner sizes differ: ", shape_str(a.shape()), (trans_a ? "^T" : ""), " x ",
                         shape_str(b.shape()), (trans_b ? "^T" : ""), " (", K, " vs ", b.size(-2), ")");
    const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
    const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
    if (!batch_b.empty() && batch_a != batch_b)
        fail<ShapeError>("matmul: batch axes differ: ", shape_str(a.shape()), " x ", shape_str(b.shape()));
    const int64_t batches = numel_of(batch_a);

    MatrixView va{}, vb{};
    // Batched operands must have a uniform batch stride: make the batch part contiguous if needed.
    auto prepare = [](Tensor& t, MatrixView& view) {
        const int64_t d = t.dim();
        bool ok = as_blas_matrix(t.size(-2), t.size(-1), t.strides()[d - 2], t.strides()[d - 1], view);
        if (ok && d > 2) {
            // the batch axes must be collapsible into one stride
            const Tensor probe = t;
            int64_t expected = probe.strides()[d - 3];
            for (int64_t i = d - 3; i > 0; --i) {
                expected *= probe.size(i);
                if (probe.size(i - 1) != 1 && probe.strides()[i - 1] != expected) ok = false;
            }
        }
        if (!ok) {
            t = t.contiguous();
            as_blas_matrix(t.size(-2), t.size(-1), t.strides()[d - 2], t.strides()[d - 1], view);
        }
    };
    prepare(a, va);
    prepare(b, vb);

    Shape out_shape = batch_a;
    out_shape.push_back(M);
    out_shape.push_back(N);
    Tensor out = Tensor::empty(out_shape);
    const int64_t a_step = a.dim() > 2 ? a.strides()[a.dim() - 3] : 0;
    const int64_t b_step = b.dim() > 2 ? b.strides()[b.dim() - 3] : 0;
    for (int64_t i = 0; i < batches; ++i)
        gemm(va.transposed, vb.transposed, M, N, K, 1.0f, a.data() + i * a_step, va.ld, b.data() + i * b_step, vb.ld,
             0.0f, out.data() + i * M * N, N);
    return out;
}

}  // namespace proact::core
