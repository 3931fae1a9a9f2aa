#include "core/reduce.hpp"

#include <algorithm>
#include <limits>

#include "core/threads.hpp"

namespace proact::core {

namespace {

std::vector<bool> reduced_mask(int64_t ndim, const std::vector<int64_t>& axes, const char* op) {
    std::vector<bool> mask(ndim, axes.empty());
    for (int64_t axis : axes) {
        const int64_t a = normalize_axis(axis, ndim, op);
        if (mask[a]) fail<ValueError>(op, ": axis ", axis, " listed twice");
        mask[a] = true;
    }
    return mask;
}

// The input (contiguous) seen as runs of axes that are all kept or all reduced:
//   extents[i], reduced[i]; outermost first.
struct Runs {
    std::vector<int64_t> extents;
    std::vector<bool> reduced;
};

Runs make_runs(const Shape& shape, const std::vector<bool>& mask) {
    Runs runs;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == 1) continue;
        if (!runs.extents.empty() && runs.reduced.back() == mask[i]) {
            runs.extents.back() *= shape[i];
        } else {
            runs.extents.push_back(shape[i]);
            runs.reduced.push_back(mask[i]);
        }
    }
    return runs;
}

// Accumulates x (laid out as `runs`) into acc (the kept elements, row-major).
//   combine(acc_value, x_value) -> new acc value
template <class Acc, class Combine>
void accumulate(const float* x, const Runs& runs, size_t run, Acc* acc, Combine combine) {
    const int64_t extent = runs.extents[run];
    // elements per step of this run, in x and in acc
    int64_t x_step = 1, acc_step = 1;
    for (size_t r = run + 1; r < runs.extents.size(); ++r) {
        x_step *= runs.extents[r];
        if (!runs.reduced[r]) acc_step *= runs.extents[r];
    }
    const bool reduced = runs.reduced[run];
    if (run + 1 == runs.extents.size()) {
        if (reduced) {
            Acc value = acc[0];
            for (int64_t i = 0; i < extent; ++i) value = combine(value, x[i]);
            acc[0] = value;
        } else {
            for (int64_t i = 0; i < extent; ++i) acc[i] = combine(acc[i], x[i]);
        }
        return;
    }
    for (int64_t i = 0; i < extent; ++i)
        accumulate(x + i * x_step, runs, run + 1, reduced ? acc : acc + i * acc_step, combine);
}

template <class Acc, class Combine>
Tensor reduce(const Tensor& input, const std::vector<int64_t>& axes, bool keepdim, const char* op, Acc init,
              Combine combine) {
    const Tensor x = input.contiguous();
    const std::vector<bool> mask = reduced_mask(x.dim(), axes, op);
    const Shape out_shape = reduced_shape(x.shape(), axes, keepdim);
    const int64_t out_count = numel_of(out_shape);
    std::vector<Acc> acc(static_cast<size_t>(out_count), init);
    if (x.numel() > 0) {
        const Runs runs = make_runs(x.shape(), mask);
        if (runs.extents.empty()) {
            acc[0] = combine(acc[0], x.data()[0]);
        } else if (!runs.reduced[0] && runs.extents.size() > 1) {
            // Outermost run is kept: its slices are independent, so split them across threads.
            const int64_t extent = runs.extents[0];
            const int64_t x_step = x.numel() / extent, acc_step = out_count / extent;
            const float* base = x.data();
            Acc* acc_base = acc.data();
#pragma omp parallel for schedule(dynamic, dynamic_chunk(x_step)) if (x.numel() > kParallelGrain)
            for (int64_t i = 0; i < extent; ++i)
                accumulate(base + i * x_step, runs, 1, acc_base + i * acc_step, combine);
        } else {
            accumulate(x.data(), runs, 0, acc.data(), combine);
        }
    }
    Tensor out = Tensor::empty(out_shape);
    for (int64_t i = 0; i < out_count; ++i) out.data()[i] = static_cast<float>(acc[i]);
    return out;
}

int64_t reduced_count(const Shape& shape, const std::vector<int64_t>& axes, const char* op) {
    const std::vector<bool> mask = reduced_mask(static_cast<int64_t>(shape.size()), axes, op);
    int64_t count = 1;
    for (size_t i = 0; i < shape.size(); ++i)
        if (mask[i]) count *= shape[i];
    return count;
}

}  // namespace

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& axes, bool keepdim) {
    const std::vector<bool> mask = reduced_mask(static_cast<int64_t>(shape.size()), axes, "reduce");
    Shape out;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (!mask[i]) out.push_back(shape[i]);
        else if (keepdim) out.push_back(1);
    }
    return out;
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
    return reduce<double>(x, axes, keepdim, "sum", 0.0, [](double acc, float v) { return acc + v; });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
    const int64_t count = reduced_count(x.shape(), axes, "mean");
    Tensor total = sum(x, axes, keepdim);
    const float scale = count == 0 ? std::numeric_limits<float>::quiet_NaN() : 1.0f / static_cast<float>(count);
    for (float& v : total.span()) v = count == 0 ? scale : v * scale;
    return total;
}

Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
    if (x.numel() == 0 && numel_of(reduced_shape(x.shape(), axes, keepdim)) > 0)
        fail<ValueError>("max: reduction over an empty axis of ", shape_str(x.shape()));
    return reduce<float>(x, axes, keepdim, "max", -std::numeric_limits<float>::infinity(),
                         [](float acc, float v) { return v > acc || v != v ? v : acc; });
}

Tensor min(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
    if (x.numel() == 0 && numel_of(reduced_shape(x.shape(), axes, keepdim)) > 0)
        fail<ValueError>("min: reduction over an empty axis of ", shape_str(x.shape()));
    return reduce<float>(x, axes, keepdim, "min", std::numeric_limits<float>::infinity(),
                         [](float acc, float v) { return v < acc || v != v ? v : acc; });
}

std::vector<int64_t> argmax(const Tensor& input, int64_t axis_in) {
    const Tensor x = input.contiguous();
    const int64_t axis = normalize_axis(axis_in, x.dim(), "argmax");
    const int64_t extent = x.size(axis);
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x.size(i);
    for (int64_t i = axis + 1; i < x.dim(); ++i) inner *= x.size(i);
    if (extent == 0 && outer * inner > 0) fail<ValueError>("argmax: axis ", axis_in, " is empty in ", shape_str(x.shape()));
    std::vector<int64_t> result(static_cast<size_t>(outer * inner), 0);
    const float* p = x.data();
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            result[o * inner + i] = argmax(p + o * extent * inner + i, extent, inner);
        }
    return result;
}

int64_t argmax(const float* values, int64_t count, int64_t stride) {
    int64_t best = 0;
    for (int64_t k = 1; k < count; ++k)
        if (values[k * stride] > values[best * stride]) best = k;
    return best;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
    if (x.shape() == shape) return x;
    const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
    if (lead < 0)
        fail<ShapeError>("sum_to: cannot reduce ", shape_str(x.shape()), " to the larger rank ", shape_str(shape));
    std::vector<int64_t> axes;
    for (int64_t i = 0; i < x.dim(); ++i) {
        if (i < lead) {
            axes.push_back(i);
        } else if (shape[i - lead] == 1 && x.size(i) != 1) {
            axes.push_back(i);
        } else if (shape[i - lead] != x.size(i)) {
            fail<ShapeError>("sum_to: ", shape_str(x.shape()), " is not a broadcast of ", shape_str(shape));
        }
    }
    if (axes.empty()) return x.reshape(shape);
    return sum(x, axes, true).reshape(shape);
}

}  // namespace proact::core
