// End to end: a two-layer MLP trained by plain gradient descent on two spirals, built only from
// autograd ops. It must learn (>= 95% training accuracy), and two runs with the same seed must
// give bit-identical losses.
#include <doctest/doctest.h>

#include <cstring>

#include "autograd/autograd.hpp"
#include "core/core.hpp"
#include "datasets/synthetic.hpp"

using namespace proact;
using namespace proact::autograd;

namespace {

struct RunResult {
    std::vector<float> losses;
    double accuracy = 0.0;
};

RunResult train_spirals(uint64_t seed, int steps) {
    const datasets::Dataset data = datasets::two_spirals(200, 0.02f, seed);
    const Variable x(data.images());
    const int64_t hidden = 64;
    core::Rng init(seed, "init");
    // A wide first layer: the spirals need features of several frequencies from the start.
    Variable w1(Tensor::uniform({hidden, 2}, -4.0f, 4.0f, init), true);
    Variable b1(Tensor::uniform({hidden}, -2.0f, 2.0f, init), true);
    Variable w2(Tensor::uniform({2, hidden}, -0.125f, 0.125f, init), true);
    Variable b2(Tensor::uniform({2}, -0.125f, 0.125f, init), true);
    const float lr = 0.5f;
    RunResult result;
    for (int step = 0; step < steps; ++step) {
        Variable loss = cross_entropy(linear(tanh(linear(x, w1, b1)), w2, b2), data.labels);
        result.losses.push_back(loss.item());
        loss.backward();
        for (Variable* p : {&w1, &b1, &w2, &b2}) {
            core::axpy_(p->value(), -lr, p->grad());
            p->zero_grad();
        }
    }
    NoGradGuard no_grad;
    const Tensor logits = linear(tanh(linear(x, w1, b1)), w2, b2).value();
    const std::vector<int64_t> predicted = core::argmax(logits, 1);
    int64_t correct = 0;
    for (size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == data.labels[i];
    result.accuracy = double(correct) / double(predicted.size());
    return result;
}

}  // namespace

TEST_CASE("MLP learns two spirals, reproducibly") {
    const RunResult first = train_spirals(7, 3000);
    MESSAGE("final loss " << first.losses.back() << ", training accuracy " << first.accuracy);
    CHECK(first.accuracy >= 0.95);
    CHECK(first.losses.back() < first.losses.front() * 0.5f);
    const RunResult second = train_spirals(7, 3000);
    REQUIRE(second.losses.size() == first.losses.size());
    CHECK(std::memcmp(first.losses.data(), second.losses.data(), first.losses.size() * sizeof(float)) == 0);
    const RunResult other = train_spirals(8, 50);
    CHECK(std::memcmp(first.losses.data(), other.losses.data(), other.losses.size() * sizeof(float)) != 0);
}
