// batch_norm loops (see batch_norm.hpp for the formulas).
#include "core/batch_norm.hpp"

#include <cmath>
#include <cstdint>

#include "core/threads.hpp"

namespace proact::core {

namespace {

// Sum of term(0..count) in a fixed order: eight double lanes, which the compiler keeps in one
// AVX-512 register instead of one serial chain of dependent additions.
template <class Term>
double fixed_order_sum(int64_t count, Term term) {
    constexpr int kLanes = 8;
    double lanes[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= count; i += kLanes)
        for (int lane = 0; lane < kLanes; ++lane) lanes[lane] += term(i + lane);
    double total = 0.0;
    for (int lane = 0; lane < kLanes; ++lane) total += lanes[lane];
    for (; i < count; ++i) total += term(i);
    return total;
}

// fixed_order_sum of two terms in one pass over the data, each with its own lanes: the same bits
// as two calls, one read of the planes instead of two.
template <class First, class Second>
void fixed_order_sums(int64_t count, First first, Second second, double& first_total, double& second_total) {
    constexpr int kLanes = 8;
    double lanes1[kLanes] = {}, lanes2[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= count; i += kLanes)
        for (int lane = 0; lane < kLanes; ++lane) {
            lanes1[lane] += first(i + lane);
            lanes2[lane] += second(i + lane);
        }
    double total1 = 0.0, total2 = 0.0;
    for (int lane = 0; lane < kLanes; ++lane) {
        total1 += lanes1[lane];
        total2 += lanes2[lane];
    }
    for (; i < count; ++i) {
        total1 += first(i);
        total2 += second(i);
    }
    first_total = total1;
    second_total = total2;
}

// Channel c's batch mean and biased variance (over its B*S values of x (B, C, S)).
void batch_statistics(const float* src, const BatchNormShape& shape, int64_t c, double& channel_mean,
                      double& channel_var) {
    const int64_t B = shape.batch, C = shape.channels, S = shape.plane;
    const double n = double(B * S);
    double total = 0.0;
    for (int64_t b = 0; b < B; ++b) {
        const float* plane = src + (b * C + c) * S;
        total += fixed_order_sum(S, [plane](int64_t i) { return double(plane[i]); });
    }
    channel_mean = total / n;
    double squares = 0.0;
    for (int64_t b = 0; b < B; ++b) {
        const float* plane = src + (b * C + c) * S;
        squares += fixed_order_sum(S, [plane, channel_mean](int64_t i) {
            const double centred = double(plane[i]) - channel_mean;
            return centred * centred;
        });
    }
    channel_var = squares / n;  // biased: what normalises
}

}  // namespace

void batch_norm_forward(const float* src, const BatchNormShape& shape, ChannelParams gamma, ChannelParams beta,
                        ChannelStats running_mean, ChannelStats running_var, bool training, float momentum, float eps,
                        float* dst, double* mean, double* invstd) {
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
        const double channel_invstd = 1.0 / std::sqrt(channel_var + double(eps));
        mean[c] = channel_mean;
        invstd[c] = channel_invstd;
        // y = x * scale + shift
        const double g = gamma.data ? gamma[c] : 1.0;
        const double bt = beta.data ? beta[c] : 0.0;
        const float scale = static_cast<float>(g * channel_invstd);
        const float shift = static_cast<float>(bt - channel_mean * g * channel_invstd);
        for (int64_t b = 0; b < B; ++b) {
            const float* in_plane = src + (b * C + c) * S;
            float* out_plane = dst + (b * C + c) * S;
            for (int64_t i = 0; i < S; ++i) out_plane[i] = in_plane[i] * scale + shift;
        }
    }
}

void batch_norm_backward(const float* x_data, const float* dy_data, const BatchNormShape& shape, ChannelParams gamma,
                         const double* mean, const double* invstd, bool training, float* dx_data, float* dgamma,
                         float* dbeta) {
    const int64_t B = shape.batch, C = shape.channels, S = shape.plane;
    const int64_t n = B * S;
#pragma omp parallel for schedule(dynamic) if (B * C * S > kParallelGrain)
    for (int64_t c = 0; c < C; ++c) {
        const double channel_mean = mean[c];
        const double channel_invstd = invstd[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int64_t b = 0; b < B; ++b) {
            const float* x_plane = x_data + (b * C + c) * S;
            const float* dy_plane = dy_data + (b * C + c) * S;
            double plane_dy, plane_dy_xhat;
            fixed_order_sums(
                S, [dy_plane](int64_t i) { return double(dy_plane[i]); },
                [=](int64_t i) { return double(dy_plane[i]) * (double(x_plane[i]) - channel_mean); }, plane_dy,
                plane_dy_xhat);
            sum_dy += plane_dy;
            sum_dy_xhat += plane_dy_xhat;
        }
        sum_dy_xhat *= channel_invstd;
        if (dgamma) dgamma[c] = static_cast<float>(sum_dy_xhat);
        if (dbeta) dbeta[c] = static_cast<float>(sum_dy);
        if (!dx_data) continue;
        const double g = gamma.data ? gamma[c] : 1.0;
        const float dy_scale = static_cast<float>(g * channel_invstd);
        if (training) {
            // dx = dy_scale * (dy - sum_dy/n - (x - mean) * invstd * sum_dy_xhat/n), as x*a + dy*s + k
            const double mean_dy = sum_dy / double(n);
            const double mean_dy_xhat = sum_dy_xhat / double(n);
            const float x_coeff = static_cast<float>(-g * channel_invstd * channel_invstd * mean_dy_xhat);
            const float constant =
                static_cast<float>(g * channel_invstd * (-mean_dy + channel_mean * channel_invstd * mean_dy_xhat));
            for (int64_t b = 0; b < B; ++b) {
                const float* x_plane = x_data + (b * C + c) * S;
                const float* dy_plane = dy_data + (b * C + c) * S;
                float* dx_plane = dx_data + (b * C + c) * S;
                for (int64_t i = 0; i < S; ++i) dx_plane[i] = dy_plane[i] * dy_scale + x_plane[i] * x_coeff + constant;
            }
        } else {
            for (int64_t b = 0; b < B; ++b) {
                const float* dy_plane = dy_data + (b * C + c) * S;
                float* dx_plane = dx_data + (b * C + c) * S;
                for (int64_t i = 0; i < S; ++i) dx_plane[i] = dy_plane[i] * dy_scale;
            }
        }
    }
}

}  // namespace proact::core
