// Clipped activation: kernel values against the formulas, gradchecks for every granularity and
// mode on conv- and linear-shaped inputs, non-finite inputs, thread-count invariance.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "core/threads.hpp"
#include "support/gradcheck_support.hpp"

using namespace proact;
using namespace proact::autograd;
using core::ClipGranularity;
using core::ClipMode;
using proact::test::random_tensor;

namespace {

// Threshold shape of a granularity for an input of `x_shape` (with the batch axis).
Shape threshold_shape(const Shape& x_shape, ClipGranularity granularity) {
    const Shape sample(x_shape.begin() + 1, x_shape.end());
    if (granularity == ClipGranularity::layer) return {};
    if (granularity == ClipGranularity::neuron) return sample;
    Shape channel(sample.size(), 1);
    channel[0] = sample[0];
    return channel;
}

// Inputs in [-1, 2] kept 0.05 away from the kinks at 0 and at the thresholds' range [0.6, 0.9]
// (hard and saturate are not differentiable there).
Tensor input_away_from_kinks(const Shape& shape, uint64_t seed) {
    Tensor x = random_tensor(shape, seed, -1.0f, 2.0f);
    for (float& v : x.span()) {
        if (std::fabs(v) < 0.05f) v = 0.2f + v;
        if (v > 0.55f && v < 0.95f) v += 0.45f;
    }
    return x;
}

float reference_clip(float x, float b, ClipMode mode, float k) {
    if (mode == ClipMode::hard) return x > 0 && x <= b ? x : 0.0f;
    if (mode == ClipMode::saturate) return std::min(std::max(x, 0.0f), b);
    const double y = double(x) * (1.0 - 1.0 / (1.0 + std::exp(-double(k) * (double(x) - b))));
    return static_cast<float>(std::max(y, 0.0));
}

const ClipGranularity kGranularities[] = {ClipGranularity::layer, ClipGranularity::channel, ClipGranularity::neuron};
const ClipMode kModes[] = {ClipMode::hard, ClipMode::smooth, ClipMode::saturate};
const Shape kShapes[] = {{2, 3, 2, 2}, {3, 5}};

}  // namespace

TEST_CASE("clip_activation matches the formula of each mode") {
    for (const Shape& shape : kShapes)
        for (ClipGranularity granularity : kGranularities)
            for (ClipMode mode : kModes) {
                CAPTURE(core::to_string(granularity));
                CAPTURE(core::to_string(mode));
                const Tensor x = random_tensor(shape, 11, -1.0f, 2.0f);
                const Tensor b = random_tensor(threshold_shape(shape, granularity), 12, 0.6f, 0.9f);
                const Tensor y = clip_activation(Variable(x), Variable(b), mode, 20.0f).value();
                const int64_t per_sample = x.numel() / shape[0];
                const int64_t spatial = per_sample / shape[1];
                for (int64_t i = 0; i < x.numel(); ++i) {
                    const int64_t element = i % per_sample;
                    const int64_t index = granularity == ClipGranularity::layer     ? 0
                                          : granularity == ClipGranularity::channel ? element / spatial
                                                                                    : element;
                    CHECK(y.data()[i] == doctest::Approx(reference_clip(x.data()[i], b.data()[index], mode, 20.0f))
                                             .epsilon(1e-5));
                }
            }
}

TEST_CASE("clip_activation gradcheck: every granularity and mode, conv and linear shapes") {
    for (const Shape& shape : kShapes)
        for (ClipGranularity granularity : kGranularities)
            for (ClipMode mode : kModes) {
                CAPTURE(core::to_string(granularity));
                CAPTURE(core::to_string(mode));
                CAPTURE(core::shape_str(shape));
                auto fn = [mode](const std::vector<Variable>& in) { return clip_activation(in[0], in[1], mode, 20.0f); };
                const Tensor x = mode == ClipMode::smooth ? random_tensor(shape, 21, -0.5f, 1.5f)
                                                          : input_away_from_kinks(shape, 21);
                const Tensor b = random_tensor(threshold_shape(shape, granularity), 22, 0.6f, 0.9f);
                GradcheckOptions options;
                // hard mode has no gradient in b: it must come out as exactly zero, checked below
                if (mode == ClipMode::hard) options.allow_zero = {1};
                CHECK_GRADCHECK(fn, {x, b}, options);
            }
}

TEST_CASE("hard mode: the threshold gets a zero gradient, saturate: one per clipped element") {
    Variable x(Tensor::from_vector({1, 4}, {-1.0f, 0.5f, 2.0f, 3.0f}), true);
    Variable b(Tensor::scalar(1.0f), true);
    sum(clip_activation(x, b, ClipMode::hard)).backward();
    CHECK(b.grad().item() == 0.0f);
    CHECK(x.grad().to_vector() == std::vector<float>{0, 1, 0, 0});
    x.zero_grad();
    b.zero_grad();
    sum(clip_activation(x, b, ClipMode::saturate)).backward();
    CHECK(b.grad().item() == 2.0f);
    CHECK(x.grad().to_vector() == std::vector<float>{0, 1, 0, 0});
}

TEST_CASE("non-finite inputs: never NaN out of a clip") {
    const float inf = std::numeric_limits<float>::infinity();
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const Tensor x = Tensor::from_vector({1, 6}, {inf, -inf, nan, 1e30f, -1e30f, 0.5f});
    const Tensor b = Tensor::scalar(2.0f);
    for (ClipMode mode : kModes) {
        CAPTURE(core::to_string(mode));
        Variable xv(x.clone(), true);
        Variable bv(b.clone(), true);
        const Variable y = clip_activation(xv, bv, mode);
        const std::vector<float> out = y.value().to_vector();
        for (float v : out) CHECK(std::isfinite(v));
        CHECK(out[0] == (mode == ClipMode::saturate ? 2.0f : 0.0f));  // +inf
        CHECK(out[1] == 0.0f);                                          // -inf
        CHECK(out[2] == 0.0f);                                          // NaN
        CHECK(out[3] == (mode == ClipMode::saturate ? 2.0f : 0.0f));    // huge
        CHECK(out[4] == 0.0f);
        CHECK(out[5] > 0.0f);
        sum(y).backward();
        for (float g : xv.grad().to_vector()) CHECK(std::isfinite(g));
        CHECK(std::isfinite(bv.grad().item()));
    }
}

TEST_CASE("clip_activation rejects a threshold that fits no granularity and a bad slope") {
    const Variable x(Tensor::zeros({2, 3, 4, 4}));
    CHECK_THROWS_AS(clip_activation(x, Variable(Tensor::zeros({4})), ClipMode::smooth), core::ShapeError);
    CHECK_THROWS_AS(clip_activation(x, Variable(Tensor::zeros({3, 4, 1})), ClipMode::smooth), core::ShapeError);
    CHECK_THROWS_AS(clip_activation(x, Variable(Tensor::scalar(1)), ClipMode::smooth, 0.0f), core::ValueError);
    CHECK_THROWS_AS(clip_activation(x, Variable(Tensor::scalar(1)), ClipMode::smooth, 1e9f), core::ValueError);
    CHECK(clip_granularity_of({2, 3, 4, 4}, {3, 1, 1}) == ClipGranularity::channel);
    CHECK(clip_granularity_of({2, 3, 4, 4}, {3, 4, 4}) == ClipGranularity::neuron);
    CHECK(clip_granularity_of({2, 7}, {7}) == ClipGranularity::neuron);
    CHECK_THROWS_AS(core::parse_clip_mode("soft"), core::ValueError);
    CHECK_THROWS_AS(core::parse_clip_granularity("kernel"), core::ValueError);
}

TEST_CASE("clip backward gives the same bits on 1 and 2 threads") {
    const Shape shape = {64, 8, 12, 12};
    const Tensor x = random_tensor(shape, 31, -1.0f, 2.0f);
    const Tensor dy = random_tensor(shape, 32);
    for (ClipGranularity granularity : kGranularities) {
        const Tensor b = random_tensor(threshold_shape(shape, granularity), 33, 0.6f, 0.9f);
        std::vector<Tensor> grads;
        for (int threads : {1, 2}) {
            core::set_num_threads(threads);
            Variable bv(b.clone(), true);
            clip_activation(Variable(x), bv, ClipMode::smooth).backward(dy);
            grads.push_back(bv.grad());
        }
        core::set_num_threads(0);
        CHECK(core::equal(grads[0], grads[1]));
    }
}
