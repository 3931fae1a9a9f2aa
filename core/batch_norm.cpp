// batch_norm loops (see batch_norm.hpp for the formulas).
#include "core/batch_norm.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/elementwise.hpp"
#include "core/threads.hpp"

namespace proact::core {

namespace {

// Eight double lanes, as one value: GCC's vector extension, which it lowers to whatever the target
// has (one zmm, two ymm, four xmm) with the same IEEE operations per lane, so the bits do not
// depend on the build.
using Lanes = double __attribute__((vector_size(8 * sizeof(double))));
constexpr int64_t kLanes = 8;

// The 8 floats at p, widened to doubles.
inline Lanes widen(const float* p) {
    using Floats = float __attribute__((vector_size(kLanes * sizeof(float))));
    Floats v;
    std::memcpy(&v, p, sizeof(v));
    return __builtin_convertvector(v, Lanes);
}

// For each term, the sum of term(at) over the positions 0..count-1 in a fixed order: lane l sums
// positions l, l+8, l+16, ... (a lane-wise vector addition, instead of one serial chain of
// dependent additions), the lanes are added in order, then the positions past the last whole 8.
// A term is a generic lambda that reads its planes through at(plane), which gives the double at
// the position, or the eight doubles there: the same operations either way. Several terms share
// one pass over the planes, each with its own lanes: the same bits as one call per term.
template <class... Terms>
std::array<double, sizeof...(Terms)> fixed_order_sums(int64_t count, Terms... terms) {
    constexpr size_t kTerms = sizeof...(Terms);
    std::array<Lanes, kTerms> lanes{};
    int64_t i = 0;
    for (; i + kLanes <= count; i += kLanes) {
        const auto at = [i](const float* plane) { return widen(plane + i); };
        size_t t = 0;
        ((lanes[t++] += terms(at)), ...);
    }
    std::array<double, kTerms> totals{};
    for (size_t t = 0; t < kTerms; ++t)
        for (int64_t lane = 0; lane < kLanes; ++lane) totals[t] += lanes[t][lane];
    for (; i < count; ++i) {
        const auto at = [i](const float* plane) { return double(plane[i]); };
        size_t t = 0;
        ((totals[t++] += terms(at)), ...);
    }
    return totals;
}

// The planes of a channel are summed several at a time: each plane's sum keeps its own lanes and
// order (fixed_order_sums with one term per plane and sum), and the plane sums are added to the
// totals in image order, so the bits are those of one plane at a time; the independent chains of
// additions keep the adder busy where one chain would wait on each addition's latency.
// A term is term(at, offset): its value at the plane that starts `offset` floats into (B, C, S).

// sum over b of the plane sum of term at plane (b, c), in image order: four planes at a time.
template <class Term>
double channel_sum(const BatchNormShape& shape, int64_t c, Term term) {
    const int64_t B = shape.batch, C = shape.channels, S = shape.plane;
    const auto at_plane = [&](int64_t b) {
        return [offset = (b * C + c) * S, term](auto at) { return term(at, offset); };
    };
    double total = 0.0;
    int64_t b = 0;
    for (; b + 4 <= B; b += 4) {
        const auto sums = fixed_order_sums(S, at_plane(b), at_plane(b + 1), at_plane(b + 2), at_plane(b + 3));
        for (const double sum : sums) total += sum;
    }
    for (; b < B; ++b) total += fixed_order_sums(S, at_plane(b))[0];
    return total;
}

// The same for two terms in one pass over the planes: two planes at a time.
template <class First, class Second>
std::array<double, 2> channel_sums(const BatchNormShape& shape, int64_t c, First first, Second second) {
    const int64_t B = shape.batch, C = shape.channels, S = shape.plane;
    const auto at_plane = [&](int64_t b, auto term) {
        return [offset = (b * C + c) * S, term](auto at) { return term(at, offset); };
    };
    std::array<double, 2> totals{};
    int64_t b = 0;
    for (; b + 2 <= B; b += 2) {
        const auto sums = fixed_order_sums(S, at_plane(b, first), at_plane(b, second), at_plane(b + 1, first),
                                           at_plane(b + 1, second));
        totals[0] += sums[0];
        totals[1] += sums[1];
        totals[0] += sums[2];
        totals[1] += sums[3];
    }
    for (; b < B; ++b) {
        const auto sums = fixed_order_sums(S, at_plane(b, first), at_plane(b, second));
        totals[0] += sums[0];
        totals[1] += sums[1];
    }
    return totals;
}

// Channel c's batch mean and biased variance (over its B*S values of x (B, C, S)).
void batch_statistics(const float* src, const BatchNormShape& shape, int64_t c, double& channel_mean,
                      double& channel_var) {
    const double n = double(shape.batch * shape.plane);
    channel_mean = channel_sum(shape, c, [src](auto at, int64_t offset) { return at(src + offset); }) / n;
    const double squares = channel_sum(shape, c, [src, m = channel_mean](auto at, int64_t offset) {
        const auto centred = at(src + offset) - m;
        return centred * centred;
    });
    channel_var = squares / n;  // biased: what normalises
}

// One plane of batch norm's output and its tail: out = affine(x) (+ residual) (then relu_value).
template <bool kResidual, bool kRelu>
void apply_plane(ChannelAffine affine, const float* x, const float* residual, int64_t count, float* out) {
    for (int64_t i = 0; i < count; ++i) {
        float v = affine(x[i]);
        if constexpr (kResidual) v = v + residual[i];
        if constexpr (kRelu) v = relu_value(v);
        out[i] = v;
    }
}

// relu_grad_value(dy, z): dy, or +0 where the ReLU's output z is at most 0, for one float, or for
// one double or lanes of doubles widened from floats (the same comparison and values: widening is
// exact, NaN stays NaN).
template <class V>
V relu_masked(V dy, V z) {
    if constexpr (std::is_same_v<V, float>) {
        return relu_grad_value(dy, z);
    } else if constexpr (std::is_same_v<V, double>) {
        return z <= 0.0 ? 0.0 : dy;
    } else {
        return z <= 0.0 ? V{} : dy;
    }
}

// batch_norm_backward for one channel, the gradient at the output read through grad(at, offset)
// (dy, or dy masked by a ReLU's output).
template <class Grad>
void channel_backward(const float* x_data, Grad grad, const BatchNormShape& shape, int64_t c, double channel_mean,
                      double channel_invstd, ChannelParams gamma, bool training, float* dx_data, float* dgamma,
                      float* dbeta) {
    const int64_t B = shape.batch, C = shape.channels, S = shape.plane;
    const int64_t n = B * S;
    auto [sum_dy, sum_dy_xhat] = channel_sums(
        shape, c, grad,
        [=](auto at, int64_t offset) { return grad(at, offset) * (at(x_data + offset) - channel_mean); });
    sum_dy_xhat *= channel_invstd;
    if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
    if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
    if (!dx_data) return;
    const double g = gamma.data ? gamma[c] : 1.0;
    const float dy_scale = static_cast<float>(g * channel_invstd);
    // The float at one position: the sums' accessor for a single value.
    const auto scalar = [](int64_t i) { return [i](const float* plane) { return plane[i]; }; };
    if (training) {
        // dx = dy_scale * (dy - sum_dy/n - (x - mean) * invstd * sum_dy_xhat/n), as x*a + dy*s + k
        const double mean_dy = sum_dy / double(n);
        const double mean_dy_xhat = sum_dy_xhat / double(n);
        const float x_coeff = static_cast<float>(-g * channel_invstd * channel_invstd * mean_dy_xhat);
        const float constant =
            static_cast<float>(g * channel_invstd * (-mean_dy + channel_mean * channel_invstd * mean_dy_xhat));
        for (int64_t b = 0; b < B; ++b) {
            const int64_t offset = (b * C + c) * S;
            const float* x_plane = x_data + offset;
            float* dx_plane = dx_data + offset;
            for (int64_t i = 0; i < S; ++i)
                dx_plane[i] = grad(scalar(i), offset) * dy_scale + x_plane[i] * x_coeff + constant;
        }
    } else {
        for (int64_t b = 0; b < B; ++b) {
            const int64_t offset = (b * C + c) * S;
            float* dx_plane = dx_data + offset;
            for (int64_t i = 0; i < S; ++i) dx_plane[i] = grad(scalar(i), offset) * dy_scale;
        }
    }
}

}  // namespace

ChannelAffine batch_norm_affine(ChannelParams gamma, ChannelParams beta, int64_t c, double mean, double invstd) {
    const double g = gamma.data ? gamma[c] : 1.0;
    const double bt = beta.data ? beta[c] : 0.0;
    return {static_cast<float>(g * invstd), static_cast<float>(bt - mean * g * invstd)};
}

double batch_norm_invstd(double var, float eps) { return 1.0 / std::sqrt(var + double(eps)); }

void batch_norm_eval_affine(ChannelParams gamma, ChannelParams beta, ChannelParams running_mean,
                            ChannelParams running_var, int64_t channels, float eps, float* scale, float* shift) {
    for (int64_t c = 0; c < channels; ++c) {
        const double mean = running_mean[c];
        const ChannelAffine affine =
            batch_norm_affine(gamma, beta, c, mean, batch_norm_invstd(running_var[c], eps));
        scale[c] = affine.scale;
        shift[c] = affine.shift;
    }
}

void batch_norm_forward(const float* src, const BatchNormShape& shape, ChannelParams gamma, ChannelParams beta,
                        ChannelStats running_mean, ChannelStats running_var, bool training, float momentum, float eps,
                        float* dst, double* mean, double* invstd, const BatchNormTail& tail) {
    const int64_t B = shape.batch, C = shape.channels, S = shape.plane;
    const int64_t n = B * S;
#pragma omp parallel for schedule(dynamic) if (B * C * S > kParallelGrain)
    for (int64_t c = 0; c < C; ++c) {
        double channel_mean, channel_var;
        if (training) {
            batch_statistics(src, shape, c, channel_mean, channel_var);
            if (running_mean.data) {
                const double m = momentum;
                float& rm = running_mean[c];
                float& rv = running_var[c];
                rm = static_cast<float>((1.0 - m) * rm + m * channel_mean);
                rv = static_cast<float>((1.0 - m) * rv + m * channel_var * double(n) / double(n - 1));
            }
        } else {
            channel_mean = running_mean[c];
            channel_var = running_var[c];
        }
        const double channel_invstd = batch_norm_invstd(channel_var, eps);
        mean[c] = channel_mean;
        invstd[c] = channel_invstd;
        const ChannelAffine affine = batch_norm_affine(gamma, beta, c, channel_mean, channel_invstd);
        for (int64_t b = 0; b < B; ++b) {
            const int64_t offset = (b * C + c) * S;
            const float* residual = tail.residual ? tail.residual + offset : nullptr;
            if (residual && tail.relu) apply_plane<true, true>(affine, src + offset, residual, S, dst + offset);
            else if (residual) apply_plane<true, false>(affine, src + offset, residual, S, dst + offset);
            else if (tail.relu) apply_plane<false, true>(affine, src + offset, nullptr, S, dst + offset);
            else apply_plane<false, false>(affine, src + offset, nullptr, S, dst + offset);
        }
    }
}

void batch_norm_backward(const float* x_data, const float* dy_data, const BatchNormShape& shape, ChannelParams gamma,
                         const double* mean, const double* invstd, bool training, float* dx_data, float* dgamma,
                         float* dbeta, const float* relu_out) {
    const int64_t B = shape.batch, C = shape.channels, S = shape.plane;
    const auto plain = [dy_data](auto at, int64_t offset) { return at(dy_data + offset); };
    const auto masked = [dy_data, relu_out](auto at, int64_t offset) {
        return relu_masked(at(dy_data + offset), at(relu_out + offset));
    };
#pragma omp parallel for schedule(dynamic) if (B * C * S > kParallelGrain)
    for (int64_t c = 0; c < C; ++c) {
        if (relu_out)
            channel_backward(x_data, masked, shape, c, mean[c], invstd[c], gamma, training, dx_data, dgamma, dbeta);
        else
            channel_backward(x_data, plain, shape, c, mean[c], invstd[c], gamma, training, dx_data, dgamma, dbeta);
    }
}

}  // namespace proact::core
