#include "core/elementwise.hpp"

#include <algorithm>

namespace proact::core {

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
    const size_t ndim = std::max(a.size(), b.size());
    Shape out(ndim);
    for (size_t i = 0; i < ndim; ++i) {
        const int64_t da = i < ndim - a.size() ? 1 : a[i - (ndim - a.size())];
        const int64_t db = i < ndim - b.size() ? 1 : b[i - (ndim - b.size())];
        if (da != db && da != 1 && db != 1)
            fail<ShapeError>(op, ": shapes ", shape_str(a), " and ", shape_str(b), " do not broadcast (axis ", i,
                             ": ", da, " vs ", db, ")");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

Shape broadcast_strides(const Tensor& t, const Shape& target, const char* op) {
    const size_t ndim = target.size();
    if (t.shape().size() > ndim)
        fail<ShapeError>(op, ": shape ", shape_str(t.shape()), " does not broadcast to ", shape_str(target));
    Shape strides(ndim, 0);
    const size_t lead = ndim - t.shape().size();
    for (size_t i = 0; i < t.shape().size(); ++i) {
        const int64_t d = t.shape()[i];
        if (d == target[lead + i]) {
            strides[lead + i] = d == 1 ? 0 : t.strides()[i];
        } else if (d == 1) {
            strides[lead + i] = 0;
        } else {
            fail<ShapeError>(op, ": shape ", shape_str(t.shape()), " does not broadcast to ", shape_str(target));
        }
    }
    return strides;
}

namespace {

// Merges adjacent axes that are contiguous with each other in all operands, so the inner loop
// runs as long as possible. shape/strides are modified in place; returns the new axis count.
int64_t coalesce(Shape& shape, std::vector<Shape*> strides) {
    int64_t ndim = static_cast<int64_t>(shape.size());
    if (ndim == 0) return 0;
    int64_t write = 0;
    for (int64_t read = 1; read < ndim; ++read) {
        bool mergeable = true;
        for (Shape* s : strides)
            if ((*s)[write] != (*s)[read] * shape[read]) mergeable = false;
        if (shape[read] == 1) {
            continue;  // size-1 axis: nothing to step
        }
        if (shape[write] == 1) {
            shape[write] = shape[read];
            for (Shape* s : strides) (*s)[write] = (*s)[read];
            continue;
        }
        if (mergeable) {
            shape[write] *= shape[read];
            for (Shape* s : strides) (*s)[write] = (*s)[read];
        } else {
            ++write;
            shape[write] = shape[read];
            for (Shape* s : strides) (*s)[write] = (*s)[read];
        }
    }
    const int64_t kept = write + 1;
    shape.resize(kept);
    for (Shape* s : strides) s->resize(kept);
    return kept;
}

template <class Op>
void inner_loop(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n, Op op) {
    if (sa == 1 && sb == 1) {
        for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], b[i]);
    } else if (sa == 1 && sb == 0) {
        const float bv = *b;
        for (int64_t i = 0; i < n; ++i) out[i] = op(a[i], bv);
    } else if (sa == 0 && sb == 1) {
        const float av = *a;
        for (int64_t i = 0; i < n; ++i) out[i] = op(av, b[i]);
    } else {
        for (int64_t i = 0; i < n; ++i) out[i] = op(a[i * sa], b[i * sb]);
    }
}

// out (contiguous, `shape`) = op(a, b) with a and b read through broadcast strides.
template <class Op>
void broadcast_apply(const float* a, Shape a_strides, const float* b, Shape b_strides, float* out, Shape shape,
                     Op op) {
    Shape out_strides = contiguous_strides(shape);
    const int64_t ndim = coalesce(shape, {&a_strides, &b_strides, &out_strides});
    if (ndim == 0) {
        *out = op(*a, *b);
        return;
    }
    const int64_t inner = shape[ndim - 1];
    const int64_t sa = a_strides[ndim - 1], sb = b_strides[ndim - 1];
    const int64_t outer = numel_of(shape) / std::max<int64_t>(inner, 1);
    if (inner == 0) return;
    if (outer == 1) {  // one run (same-shape contiguous operands, e.g. a residual add): cut it into chunks
        constexpr int64_t kChunk = 16384;
        const int64_t chunks = (inner + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(dynamic) if (inner > kParallelGrain)
        for (int64_t chunk = 0; chunk < chunks; ++chunk) {
            const int64_t start = chunk * kChunk, count = std::min(kChunk, inner - start);
            inner_loop(a + start * sa, sa, b + start * sb, sb, out + start, count, op);
        }
        return;
    }
#pragma omp parallel for schedule(dynamic, dynamic_chunk(inner)) if (outer * inner > kParallelGrain)
    for (int64_t row = 0; row < outer; ++row) {
        // decompose row into indices of the outer axes
        int64_t rest = row, off_a = 0, off_b = 0;
        for (int64_t axis = ndim - 2; axis >= 0; --axis) {
            const int64_t idx = rest % shape[axis];
            rest /= shape[axis];
            off_a += idx * a_strides[axis];
            off_b += idx * b_strides[axis];
        }
        inner_loop(a + off_a, sa, b + off_b, sb, out + row * inner, inner, op);
    }
}

template <class Op>
Tensor apply(const Tensor& a, const Tensor& b, const char* name, Op op) {
    const Shape shape = broadcast_shape(a.shape(), b.shape(), name);
    Tensor out = Tensor::empty(shape);
    if (out.numel() == 0) return out;
    broadcast_apply(a.data(), broadcast_strides(a, shape, name), b.data(), broadcast_strides(b, shape, name),
                    out.data(), shape, op);
    return out;
}

}  // namespace

Tensor binary(const Tensor& a, const Tensor& b, BinaryOp op, const char* name) {
    switch (op) {
        case BinaryOp::Add: return apply(a, b, name, [](float x, float y) { return x + y; });
        case BinaryOp::Sub: return apply(a, b, name, [](float x, float y) { return x - y; });
        case BinaryOp::Mul: return apply(a, b, name, [](float x, float y) { return x * y; });
        case BinaryOp::Div: return apply(a, b, name, [](float x, float y) { return x / y; });
        case BinaryOp::Max: return apply(a, b, name, [](float x, float y) { return x > y ? x : y; });
        case BinaryOp::Min: return apply(a, b, name, [](float x, float y) { return x < y ? x : y; });
        case BinaryOp::Pow: return apply(a, b, name, [](float x, float y) { return std::pow(x, y); });
    }
    fail<ValueError>(name, ": unknown binary op");
}

void add_(Tensor& a, const Tensor& b) {
    if (a.shape() == b.shape() && a.is_contiguous() && b.is_contiguous()) {
        axpy_(a, 1.0f, b);
        return;
    }
    const Tensor sum = apply(a, b, "add_", [](float x, float y) { return x + y; });
    if (sum.shape() != a.shape())
        fail<ShapeError>("add_: shape ", shape_str(b.shape()), " does not broadcast to ", shape_str(a.shape()));
    a.copy_(sum);
}

void scale_(Tensor& a, float scale) {
    if (!a.is_contiguous()) {
        a.copy_(map(a, [scale](float x) { return x * scale; }));
        return;
    }
    float* p = a.data();
    const int64_t n = a.numel();
#pragma omp parallel for schedule(dynamic, kDynamicChunk) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) p[i] *= scale;
}

void axpy_(Tensor& a, float alpha, const Tensor& b) {
    if (a.shape() != b.shape())
        fail<ShapeError>("axpy_: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()), " differ");
    if (!a.is_contiguous()) fail<ValueError>("axpy_: destination must be contiguous");
    const Tensor src = b.contiguous();
    float* dst = a.data();
    const float* pb = src.data();
    const int64_t n = a.numel();
#pragma omp parallel for schedule(dynamic, kDynamicChunk) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) dst[i] += alpha * pb[i];
}

}  // namespace proact::core
