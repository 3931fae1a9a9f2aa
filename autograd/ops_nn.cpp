// softmax, log_softmax, cross_entropy, mse, dropout.
#include <cmath>
#include <limits>

#include "autograd/ops.hpp"
#include "core/elementwise.hpp"
#include "core/reduce.hpp"
#include "core/threads.hpp"

namespace proact::autograd {

namespace core = proact::core;

namespace {

// x is (rows, cols); out[r] = log_softmax(x[r]) when `log`, else softmax(x[r]).
// Subtracting the row max keeps exp() in range; a row whose entries are all -inf stays NaN (no
// distribution exists), a row with some -inf entries gives them probability 0.
void softmax_rows(const float* x, int64_t rows, int64_t cols, float* out, bool log) {
#pragma omp parallel for schedule(dynamic, core::dynamic_chunk(cols)) if (rows * cols > core::kParallelGrain)
    for (int64_t r = 0; r < rows; ++r) {
        const float* in = x + r * cols;
        float* o = out + r * cols;
        float row_max = -std::numeric_limits<float>::infinity();
        for (int64_t c = 0; c < cols; ++c) row_max = std::max(row_max, in[c]);
        double total = 0.0;
        for (int64_t c = 0; c < cols; ++c) total += std::exp(double(in[c]) - row_max);
        if (log) {
            const float log_total = static_cast<float>(std::log(total));
            for (int64_t c = 0; c < cols; ++c) o[c] = in[c] - row_max - log_total;
        } else {
            const double inv = 1.0 / total;
            for (int64_t c = 0; c < cols; ++c) o[c] = static_cast<float>(std::exp(double(in[c]) - row_max) * inv);
        }
    }
}

// Moves `axis` to the end (a contiguous copy) so the kernel works on rows.
struct AxisLast {
    std::vector<int64_t> order, inverse;
    bool identity = true;
    AxisLast(int64_t ndim, int64_t axis) {
        for (int64_t i = 0; i < ndim; ++i)
            if (i != axis) order.push_back(i);
        order.push_back(axis);
        inverse.resize(ndim);
        for (int64_t i = 0; i < ndim; ++i) inverse[order[i]] = i;
        identity = axis == ndim - 1;
    }
    Tensor to(const Tensor& t) const { return identity ? t.contiguous() : t.permute(order).contiguous(); }
    Tensor from(const Tensor& t) const { return identity ? t : t.permute(inverse).contiguous(); }
};

Tensor softmax_along(const Tensor& x, int64_t axis, bool log) {
    if (x.dim() == 0) core::fail<core::ShapeError>(log ? "log_softmax" : "softmax", ": input is a scalar");
    const AxisLast move(x.dim(), axis);
    const Tensor rows = move.to(x);
    Tensor out = Tensor::empty(rows.shape());
    const int64_t cols = rows.size(-1);
    if (rows.numel() > 0) softmax_rows(rows.data(), rows.numel() / cols, cols, out.data(), log);
    return move.from(out);
}

}  // namespace

Variable softmax(const Variable& x, int64_t axis_in) {
    const int64_t axis = core::normalize_axis(axis_in, x.dim(), "softmax");
    Tensor out = softmax_along(x.value(), axis, false);
    return make_result(out, "softmax", {x}, [out, axis](const Tensor& g) {
        // dx = s * (g - sum(g * s, axis))
        const Tensor gs = core::mul(g, out);
        const Tensor dot = core::sum(gs, {axis}, true);
        return std::vector<Tensor>{core::mul(out, core::sub(g, dot))};
    });
}

Variable log_softmax(const Variable& x, int64_t axis_in) {
    const int64_t axis = core::normalize_axis(axis_in, x.dim(), "log_softmax");
    Tensor out = softmax_along(x.value(), axis, true);
    return make_result(out, "log_softmax", {x}, [out, axis](const Tensor& g) {
        // dx = g - softmax * sum(g, axis)
        const Tensor total = core::sum(g, {axis}, true);
        const Tensor probs = core::map(out, [](float v) { return std::exp(v); });
        return std::vector<Tensor>{core::sub(g, core::mul(probs, total))};
    });
}

Variable cross_entropy(const Variable& logits, const std::vector<int32_t>& labels) {
    if (logits.dim() != 2)
        core::fail<core::ShapeError>("cross_entropy: logits must be (batch, classes), got ",
                                     core::shape_str(logits.shape()));
    const int64_t batch = logits.size(0), classes = logits.size(1);
    if (static_cast<int64_t>(labels.size()) != batch)
        core::fail<core::ShapeError>("cross_entropy: ", labels.size(), " labels for a batch of ", batch);
    if (batch == 0) core::fail<core::ShapeError>("cross_entropy: empty batch");
    for (size_t i = 0; i < labels.size(); ++i)
        if (labels[i] < 0 || labels[i] >= classes)
            core::fail<core::ValueError>("cross_entropy: label ", labels[i], " at position ", i, " outside [0, ",
                                         classes, ")");
    const Tensor log_probs = softmax_along(logits.value(), 1, true);
    double total = 0.0;
    for (int64_t i = 0; i < batch; ++i) total -= log_probs.data()[i * classes + labels[i]];
    Tensor loss = Tensor::scalar(static_cast<float>(total / double(batch)));
    return make_result(loss, "cross_entropy", {logits}, [log_probs, labels, batch, classes](const Tensor& g) {
        // d loss / d logits = (softmax - onehot(label)) / batch
        const float scale = g.item() / static_cast<float>(batch);
        Tensor dlogits = core::map(log_probs, [scale](float v) { return std::exp(v) * scale; });
        float* d = dlogits.data();
        for (int64_t i = 0; i < batch; ++i) d[i * classes + labels[i]] -= scale;
        return std::vector<Tensor>{dlogits};
    });
}

Variable mse(const Variable& a, const Variable& b) {
    if (a.shape() != b.shape())
        core::fail<core::ShapeError>("mse: shapes ", core::shape_str(a.shape()), " and ", core::shape_str(b.shape()),
                                     " differ");
    const Tensor diff = core::sub(a.value(), b.value());
    double total = 0.0;
    for (float v : diff.span()) total += double(v) * v;
    const int64_t count = diff.numel();
    Tensor loss = Tensor::scalar(count ? static_cast<float>(total / double(count)) : 0.0f);
    return make_result(loss, "mse", {a, b}, [a, b, diff, count](const Tensor& g) {
        const float scale = count ? 2.0f * g.item() / static_cast<float>(count) : 0.0f;
        Tensor da, db;
        if (a.requires_grad()) da = core::map(diff, [scale](float v) { return v * scale; });
        if (b.requires_grad()) db = core::map(diff, [scale](float v) { return -v * scale; });
        return std::vector<Tensor>{da, db};
    });
}

Variable dropout(const Variable& x, float p, bool training, core::Rng& rng) {
    if (!(p >= 0.0f && p < 1.0f)) core::fail<core::ValueError>("dropout: probability must be in [0, 1), got ", p);
    if (!training || p == 0.0f) return x;
    const float keep_scale = 1.0f / (1.0f - p);
    Tensor mask = Tensor::empty(x.shape());
    for (float& m : mask.span()) m = rng.uniform() < p ? 0.0f : keep_scale;
    return make_result(core::mul(x.value(), mask), "dropout", {x},
                       [mask](const Tensor& g) { return std::vector<Tensor>{core::mul(g, mask)}; });
}

}  // namespace proact::autograd
