// optim/: SGD, Adam, AdamW against PyTorch reference values; the freezing rule; parameter groups;
// snapshot/restore; schedules; NaN handling; no allocation in steady state; convergence.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <numbers>

#include "autograd/autograd.hpp"
#include "core/core.hpp"
#include "layers/module.hpp"
#include "optim/optim.hpp"

// Counts heap allocations, to show that a steady-state step makes none. (Replacing the global
// operator new is allowed once per program; each test file is its own program.)
namespace {
std::atomic<int64_t> heap_allocations{0};
}
// GCC 12 sees malloc'd memory reach free() through these and warns of a mismatch that is not one.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t bytes) {
    heap_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* memory = std::malloc(bytes ? bytes : 1)) return memory;
    throw std::bad_alloc();
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }
#pragma GCC diagnostic pop

using namespace proact;
using namespace proact::optim;
using autograd::Variable;
using core::Tensor;

namespace {

// The quadratic problem of the reference: loss = 0.5 * sum(a * (p - c)²), gradient a * (p - c),
// set by hand (the same float operations as the reference script) rather than by backward, so
// both sides start every step from bit-identical gradients.
constexpr float kP0[4] = {1.0f, -2.0f, 0.5f, 0.25f};
constexpr float kC[4] = {0.5f, 1.0f, -1.0f, 0.0f};
constexpr float kA[4] = {1.0f, 2.0f, 0.5f, 4.0f};

Variable make_param(std::vector<float> values) {
    const int64_t n = static_cast<int64_t>(values.size());
    return Variable(Tensor::from_vector({n}, values), true);
}

Variable quadratic_param() { return make_param({kP0[0], kP0[1], kP0[2], kP0[3]}); }

// grad = a * (p - c), element i using constants i % 4 (so a big parameter repeats the small problem).
void set_quadratic_grad(Variable& param) {
    const Tensor& value = param.value();
    Tensor grad = Tensor::empty(value.shape());
    const float* p = value.data();
    float* g = grad.data();
    for (int64_t i = 0; i < value.numel(); ++i) g[i] = (p[i] - kC[i % 4]) * kA[i % 4];
    param.grad() = grad;
}

bool bit_identical(const Tensor& a, const Tensor& b) {
    if (a.defined() != b.defined()) return false;
    if (!a.defined()) return true;
    if (a.shape() != b.shape()) return false;
    const Tensor ca = a.contiguous(), cb = b.contiguous();
    return std::memcmp(ca.data(), cb.data(), sizeof(float) * static_cast<size_t>(ca.numel())) == 0;
}

bool same_state(const ParamState* a, const ParamState* b) {
    if (!a || !b) return a == b;
    return a->step == b->step && bit_identical(a->momentum_buffer, b->momentum_buffer) &&
           bit_identical(a->exp_avg, b->exp_avg) && bit_identical(a->exp_avg_sq, b->exp_avg_sq);
}

ParamState copy_state(const ParamState* state) {
    REQUIRE(state != nullptr);
    ParamState copy;
    copy.step = state->step;
    if (state->momentum_buffer.defined()) copy.momentum_buffer = state->momentum_buffer.clone();
    if (state->exp_avg.defined()) copy.exp_avg = state->exp_avg.clone();
    if (state->exp_avg_sq.defined()) copy.exp_avg_sq = state->exp_avg_sq.clone();
    return copy;
}

// Tolerance against PyTorch: both sides run the same float32 operations, but fused multiply-adds
// (-march=native here, AVX2 kernels there) may round differently. Measured: at most 6e-8 off
// (about 1 ulp) over five steps; allowed 1e-6 * (1 + |expected|). A wrong formula (Adam's L2 for
// AdamW's decoupled decay, a bias correction off by one step) is off by 1e-3 or more.
void check_close(const Tensor& value, const float (&expected)[4], int step) {
    const std::vector<float> got = value.to_vector();
    REQUIRE(got.size() == 4);
    for (size_t i = 0; i < 4; ++i) {
        INFO("step ", step + 1, " element ", i);
        CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-6).scale(1.0));
    }
}

void run_against_reference(Optimizer& optimizer, Variable& param, const float (&expected)[5][4]) {
    for (int step = 0; step < 5; ++step) {
        set_quadratic_grad(param);
        optimizer.step();
        check_close(param.value(), expected[step], step);
    }
    CHECK(optimizer.step_count(param) == 5);
}

// ---- Reference values ----------------------------------------------------------------------------
// Produced once by hand with PyTorch 1.13 (torch.optim.SGD / Adam / AdamW, float32, one thread):
// p = torch.tensor(kP0, requires_grad=True); 5 times: p.grad = (p - c) * a; opt.step(); print p,
// printed with 9 significant digits. The tests never need PyTorch.

constexpr float kSgdPlain[5][4] = {  // SGD lr 0.1
    {0.949999988f, -1.39999998f, 0.425000012f, 0.150000006f},
    {0.904999971f, -0.919999957f, 0.35375002f, 0.0900000036f},
    {0.864499986f, -0.535999954f, 0.286062509f, 0.0540000014f},
    {0.828049958f, -0.228799939f, 0.221759379f, 0.0324000008f},
    {0.795244932f, 0.0169600528f, 0.160671413f, 0.0194400009f}};
constexpr float kSgdMomentum[5][4] = {  // SGD lr 0.1 momentum 0.9
    {0.949999988f, -1.39999998f, 0.425000012f, 0.150000006f},
    {0.860000014f, -0.379999965f, 0.286250025f, 3.7252903e-09f},
    {0.743000031f, 0.81400001f, 0.097062543f, -0.13499999f},
    {0.613400042f, 1.92579997f, -0.128059313f, -0.202499986f},
    {0.485420048f, 2.74125981f, -0.374265999f, -0.182249993f}};
constexpr float kSgdNesterov[5][4] = {  // SGD lr 0.1 momentum 0.9 nesterov
    {0.904999971f, -0.860000014f, 0.357500017f, 0.0599999987f},
    {0.787549973f, 0.332799941f, 0.167787507f, -0.0665999949f},
    {0.663660467f, 1.32505596f, -0.0528060682f, -0.108323991f},
    {0.546943903f, 1.97446907f, -0.288773268f, -0.0875253454f},
    {0.447709113f, 2.24715257f, -0.526086569f, -0.041283939f}};
constexpr float kSgdMomentumDecay[5][4] = {  // SGD lr 0.1 momentum 0.9 weight_decay 0.1
    {0.939999998f, -1.38f, 0.419999987f, 0.147499993f},
    {0.832599998f, -0.332200021f, 0.272799999f, -0.00522500183f},
    {0.694353998f, 0.880581975f, 0.0739520118f, -0.14053525f},
    {0.54355365f, 1.98716354f, -0.159448296f, -0.204695016f},
    {0.39804244f, 2.76578259f, -0.409941673f, -0.178513855f}};
constexpr float kSgdDecay[5][4] = {  // SGD lr 0.05 weight_decay 0.5
    {0.949999988f, -1.64999998f, 0.449999988f, 0.193749994f},
    {0.903750002f, -1.34375f, 0.402499974f, 0.150156245f},
    {0.860968769f, -1.07578123f, 0.357374966f, 0.116371088f},
    {0.821396112f, -0.841308594f, 0.314506233f, 0.0901875943f},
    {0.78479141f, -0.636144996f, 0.273780912f, 0.0698953867f}};
constexpr float kAdam[5][4] = {  // Adam lr 0.1
    {0.900000036f, -1.89999998f, 0.400000006f, 0.150000006f},
    {0.801187456f, -1.80010271f, 0.300239056f, 0.0542509854f},
    {0.704871297f, -1.70038152f, 0.200902864f, -0.0302083343f},
    {0.612915456f, -1.60091352f, 0.102198936f, -0.093138136f},
    {0.527814507f, -1.50177944f, 0.00435816497f, -0.127603948f}};
constexpr float kAdamDecay[5][4] = {  // Adam lr 0.1 weight_decay 0.1 (L2)
    {0.900000036f, -1.89999998f, 0.400000006f, 0.150000006f},
    {0.801028907f, -1.80010462f, 0.300278783f, 0.0542509854f},
    {0.704173923f, -1.70038879f, 0.201057613f, -0.0302083269f},
    {0.610944152f, -1.60093117f, 0.102587812f, -0.0931381285f},
    {0.52333951f, -1.50181425f, 0.00515339524f, -0.127603933f}};
constexpr float kAdamW[5][4] = {  // AdamW lr 0.1 weight_decay 0.1
    {0.890000045f, -1.88f, 0.395000011f, 0.147500008f},
    {0.782494783f, -1.76132715f, 0.291304648f, 0.0504951552f},
    {0.679040194f, -1.64405859f, 0.189095765f, -0.0337178074f},
    {0.58187449f, -1.52827454f, 0.0885735452f, -0.0948871076f},
    {0.493963599f, -1.41405833f, -0.0100427642f, -0.126792669f}};
constexpr float kAdamWBetas[5][4] = {  // AdamW lr 0.05 betas (0.8, 0.99) eps 1e-6 weight_decay 0.01
    {0.949500084f, -1.949f, 0.449750066f, 0.199875042f},
    {0.899377823f, -1.89807284f, 0.399622858f, 0.150670677f},
    {0.849921048f, -1.84725046f, 0.349686801f, 0.103308335f},
    {0.801460147f, -1.79656494f, 0.300012022f, 0.0590167828f},
    {0.754368126f, -1.74604774f, 0.250669688f, 0.0193161629f}};
// AdamW with two groups, ProAct-like: a scalar s = 2 (lr 0.01, wd 0.4, grad 1.5 (s - 1)) and a
// vector v = [1, -0.5, 3] (lr 0.001, wd 0.04, grad [1, 2, 3] * (v - [0, 0.5, 1])). Rows: [s, v0, v1, v2].
constexpr float kAdamWGroups[5][4] = {
    {1.98199999f, 0.998960018f, -0.498980016f, 2.99888015f},
    {1.96407712f, 0.997920096f, -0.497960061f, 2.9977603f},
    {1.94623458f, 0.996880233f, -0.496940225f, 2.99664044f},
    {1.92847574f, 0.99584049f, -0.495920479f, 2.99552059f},
    {1.91080379f, 0.994800866f, -0.494900852f, 2.99440098f}};

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(NamedParameters)>;

}  // namespace

TEST_CASE("SGD matches torch.optim.SGD on a quadratic") {
    Variable p = quadratic_param();
    NamedParameters params{{"p", p}};
    SUBCASE("plain") {
        SGD sgd(params, {.lr = 0.1f});
        run_against_reference(sgd, p, kSgdPlain);
    }
    SUBCASE("momentum") {
        SGD sgd(params, {.lr = 0.1f, .momentum = 0.9f});
        run_against_reference(sgd, p, kSgdMomentum);
    }
    SUBCASE("nesterov") {
        SGD sgd(params, {.lr = 0.1f, .momentum = 0.9f, .nesterov = true});
        run_against_reference(sgd, p, kSgdNesterov);
    }
    SUBCASE("momentum and weight decay") {
        SGD sgd(params, {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.1f});
        run_against_reference(sgd, p, kSgdMomentumDecay);
    }
    SUBCASE("weight decay without momentum") {
        SGD sgd(params, {.lr = 0.05f, .weight_decay = 0.5f});
        run_against_reference(sgd, p, kSgdDecay);
        CHECK(sgd.state(p)->momentum_buffer.defined() == false);
    }
}

TEST_CASE("Adam and AdamW match PyTorch on a quadratic") {
    Variable p = quadratic_param();
    NamedParameters params{{"p", p}};
    SUBCASE("Adam") {
        Adam adam(params, {.lr = 0.1f});
        run_against_reference(adam, p, kAdam);
    }
    SUBCASE("Adam with L2 weight decay") {
        Adam adam(params, {.lr = 0.1f, .weight_decay = 0.1f});
        run_against_reference(adam, p, kAdamDecay);
    }
    SUBCASE("AdamW") {
        AdamW adamw(params, {.lr = 0.1f, .weight_decay = 0.1f});
        CHECK(std::string(adamw.type_name()) == "AdamW");
        run_against_reference(adamw, p, kAdamW);
    }
    SUBCASE("AdamW with other betas and eps") {
        AdamW adamw(params, {.lr = 0.05f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-6f, .weight_decay = 0.01f});
        run_against_reference(adamw, p, kAdamWBetas);
    }
    SUBCASE("AdamW's default weight decay is PyTorch's 1e-2, Adam's 0") {
        CHECK(AdamW().defaults().weight_decay == 1e-2f);
        CHECK(Adam().defaults().weight_decay == 0.0f);
        CHECK(Adam().defaults().beta1 == 0.9f);
        CHECK(Adam().defaults().beta2 == 0.999f);
        CHECK(Adam().defaults().eps == 1e-8f);
    }
}

TEST_CASE("a big parameter takes the parallel path and gets the same numbers") {
    // 100003 elements > core::kParallelGrain; element i repeats the small problem's element i % 4.
    const int64_t n = 100003;
    std::vector<float> init(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) init[static_cast<size_t>(i)] = kP0[i % 4];
    const std::vector<std::pair<const char*, MakeOptimizer>> cases = {
        {"SGD nesterov + decay",
         [](NamedParameters ps) -> std::unique_ptr<Optimizer> {
             return std::make_unique<SGD>(ps, SgdOptions{.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.1f, .nesterov = true});
         }},
        {"Adam + L2",
         [](NamedParameters ps) -> std::unique_ptr<Optimizer> {
             return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.1f, .weight_decay = 0.1f});
         }},
        {"AdamW",
         [](NamedParameters ps) -> std::unique_ptr<Optimizer> {
             return std::make_unique<AdamW>(ps, AdamWOptions{.lr = 0.1f, .weight_decay = 0.1f});
         }},
    };
    for (const auto& [label, make] : cases) {
        INFO(std::string(label));
        Variable big = make_param(init), small = quadratic_param();
        auto big_opt = make({{"big", big}});
        auto small_opt = make({{"small", small}});
        for (int step = 0; step < 5; ++step) {
            set_quadratic_grad(big);
            set_quadratic_grad(small);
            big_opt->step();
            small_opt->step();
        }
        const std::vector<float> got = big.value().to_vector(), want = small.value().to_vector();
        bool all_equal = true;
        for (int64_t i = 0; i < n; ++i)
            all_equal = all_equal && std::memcmp(&got[static_cast<size_t>(i)], &want[static_cast<size_t>(i % 4)], sizeof(float)) == 0;
        CHECK(all_equal);
    }
}

TEST_CASE("frozen and gradient-less parameters are never moved, and resume where they stopped") {
    const std::vector<std::pair<const char*, MakeOptimizer>> cases = {
        {"SGD momentum + weight decay",
         [](NamedParameters ps) -> std::unique_ptr<Optimizer> {
             return std::make_unique<SGD>(ps, SgdOptions{.lr = 0.05f, .momentum = 0.9f, .weight_decay = 0.1f});
         }},
        {"SGD nesterov + weight decay",
         [](NamedParameters ps) -> std::unique_ptr<Optimizer> {
             return std::make_unique<SGD>(ps, SgdOptions{.lr = 0.05f, .momentum = 0.9f, .weight_decay = 0.1f, .nesterov = true});
         }},
        {"Adam + L2",
         [](NamedParameters ps) -> std::unique_ptr<Optimizer> {
             return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.05f, .weight_decay = 0.1f});
         }},
        {"AdamW",
         [](NamedParameters ps) -> std::unique_ptr<Optimizer> {
             return std::make_unique<AdamW>(ps, AdamWOptions{.lr = 0.05f, .weight_decay = 0.4f});
         }},
    };
    for (const auto& [label, make] : cases) {
        INFO(std::string(label));
        Variable trained = quadratic_param(), frozen = quadratic_param(), gradless = quadratic_param();
        auto optimizer = make({{"trained", trained}, {"frozen", frozen}, {"gradless", gradless}});
        // `twin` is what `frozen` would be if it had never been frozen.
        Variable twin = quadratic_param();
        auto twin_optimizer = make({{"twin", twin}});

        for (int step = 0; step < 3; ++step) {
            for (Variable* p : {&trained, &frozen, &gradless, &twin}) set_quadratic_grad(*p);
            optimizer->step();
            twin_optimizer->step();
        }
        REQUIRE(optimizer->step_count(frozen) == 3);
        REQUIRE(optimizer->step_count(gradless) == 3);

        // Freeze one; the other simply has no gradient any more. The frozen one keeps being handed
        // gradients (zero ones: the toolbox's bug case, and stale non-zero ones).
        frozen.set_requires_grad(false);
        gradless.zero_grad();
        const Tensor frozen_before = frozen.value().clone(), gradless_before = gradless.value().clone();
        const ParamState frozen_state = copy_state(optimizer->state(frozen));
        const ParamState gradless_state = copy_state(optimizer->state(gradless));
        const Tensor trained_before = trained.value().clone();
        for (int step = 0; step < 10; ++step) {
            set_quadratic_grad(trained);
            if (step % 2 == 0) {
                frozen.grad() = Tensor::zeros(frozen.shape());
            } else {
                set_quadratic_grad(frozen);
            }
            optimizer->step();
        }
        CHECK(bit_identical(frozen.value(), frozen_before));
        CHECK(bit_identical(gradless.value(), gradless_before));
        CHECK(same_state(optimizer->state(frozen), &frozen_state));
        CHECK(same_state(optimizer->state(gradless), &gradless_state));
        CHECK(optimizer->step_count(frozen) == 3);
        CHECK(optimizer->step_count(trained) == 13);
        CHECK_FALSE(bit_identical(trained.value(), trained_before));

        // Unfrozen: the 4th update of `frozen` is exactly the twin's 4th (step count 4, not 14).
        frozen.set_requires_grad(true);
        set_quadratic_grad(frozen);
        set_quadratic_grad(twin);
        set_quadratic_grad(trained);
        optimizer->step();
        twin_optimizer->step();
        CHECK(optimizer->step_count(frozen) == 4);
        CHECK(bit_identical(frozen.value(), twin.value()));
        CHECK(same_state(optimizer->state(frozen), twin_optimizer->state(twin)));
        CHECK(optimizer->step_count(gradless) == 3);
        CHECK(bit_identical(gradless.value(), gradless_before));
    }
}

namespace {

// Two parameters registered on a module, to freeze them through Module::freeze.
class TwoParameters : public layers::Module {
public:
    TwoParameters() {
        weight_ = register_parameter("weight", Tensor::from_vector({2}, {1.0f, -1.0f}));
        threshold_ = register_parameter("threshold", Tensor::from_vector({}, {3.0f}));
    }
    Variable forward(const Variable& input) override { return input; }
    std::string type_name() const override { return "TwoParameters"; }

private:
    Variable weight_, threshold_;
};

}  // namespace

TEST_CASE("Module::freeze is honoured: only the unfrozen parameters move") {
    auto module = std::make_shared<TwoParameters>();
    AdamW adamw(module->named_parameters(), {.lr = 0.01f, .weight_decay = 0.4f});
    module->freeze("*");
    module->unfreeze("threshold");
    auto params = module->named_parameters();
    Variable weight = params[0].second, threshold = params[1].second;
    const Tensor weight_before = weight.value().clone(), threshold_before = threshold.value().clone();
    for (int step = 0; step < 5; ++step) {
        weight.grad() = Tensor::ones({2});          // present but frozen
        threshold.grad() = Tensor::scalar(0.5f);
        adamw.step();
    }
    CHECK(bit_identical(weight.value(), weight_before));
    CHECK(adamw.state(weight) == nullptr);
    CHECK(adamw.step_count(threshold) == 5);
    CHECK(threshold.item() < threshold_before.item());
    adamw.zero_grad();
    CHECK_FALSE(weight.has_grad());
    CHECK_FALSE(threshold.has_grad());
}

TEST_CASE("parameter groups have their own lr and weight decay") {
    SUBCASE("AdamW with two groups matches PyTorch") {
        Variable scalar(Tensor::scalar(2.0f), true);
        Variable vector = make_param({1.0f, -0.5f, 3.0f});
        AdamW adamw;
        adamw.add_param_group({{"scalar", scalar}}, 0.01f, 0.4f, "scalar");
        adamw.add_param_group({{"vector", vector}}, 0.001f, 0.04f, "neuron");
        for (int step = 0; step < 5; ++step) {
            scalar.grad() = Tensor::scalar((scalar.item() - 1.0f) * 1.5f);
            const std::vector<float> v = vector.value().to_vector();
            vector.grad() = Tensor::from_vector({3}, {(v[0] - 0.0f) * 1.0f, (v[1] - 0.5f) * 2.0f, (v[2] - 1.0f) * 3.0f});
            adamw.step();
            const std::vector<float> now = vector.value().to_vector();
            const float got[4] = {scalar.item(), now[0], now[1], now[2]};
            for (int i = 0; i < 4; ++i) {
                INFO("step ", step + 1, " element ", i);
                CHECK(got[i] == doctest::Approx(kAdamWGroups[step][i]).epsilon(1e-6).scale(1.0));
            }
        }
    }
    SUBCASE("two groups behave exactly as two optimizers") {
        Variable a = quadratic_param(), b = quadratic_param(), a_alone = quadratic_param(), b_alone = quadratic_param();
        SGD together({.lr = 0.1f, .momentum = 0.9f});
        together.add_param_group({{"a", a}});
        ParamGroup slow = together.defaults();
        slow.params = {{"b", b}};
        slow.lr = 0.01f;
        slow.weight_decay = 0.5f;
        slow.momentum = 0.5f;
        slow.nesterov = true;
        slow.name = "slow";
        CHECK(together.add_param_group(slow) == 1);
        SGD first({{"a", a_alone}}, {.lr = 0.1f, .momentum = 0.9f});
        SGD second({{"b", b_alone}}, {.lr = 0.01f, .momentum = 0.5f, .weight_decay = 0.5f, .nesterov = true});
        for (int step = 0; step < 5; ++step) {
            for (Variable* p : {&a, &b, &a_alone, &b_alone}) set_quadratic_grad(*p);
            together.step();
            first.step();
            second.step();
        }
        CHECK(bit_identical(a.value(), a_alone.value()));
        CHECK(bit_identical(b.value(), b_alone.value()));
        CHECK(together.param_group("slow").momentum == 0.5f);
    }
    SUBCASE("lr setters, names and mistakes") {
        Variable a = quadratic_param(), b = quadratic_param(), c = quadratic_param();
        Adam adam({.lr = 0.01f});
        adam.add_param_group({{"a", a}}, "scalar");
        adam.add_param_group({{"b", b}}, 0.001f, 0.0f, "neuron");
        CHECK(adam.group_count() == 2);
        CHECK(adam.lr(0) == 0.01f);
        CHECK(adam.lr(1) == 0.001f);
        adam.set_lr_factor(0.5f);
        CHECK(adam.lr(0) == 0.005f);
        CHECK(adam.lr(1) == 0.0005f);
        adam.set_lr(1, 0.25f);
        CHECK(adam.lr(1) == 0.25f);
        CHECK(adam.initial_lr(1) == 0.001f);
        adam.set_lr(0.125f);
        CHECK(adam.lr(0) == 0.125f);
        CHECK(adam.lr(1) == 0.125f);
        adam.param_group("neuron").weight_decay = 4e-2f;
        CHECK(adam.param_group(1).weight_decay == 4e-2f);
        CHECK(adam.contains(a));
        CHECK_FALSE(adam.contains(c));
        CHECK_THROWS_AS(adam.param_group("missing"), core::ValueError);
        CHECK_THROWS_AS(adam.param_group(2), core::IndexError);
        CHECK_THROWS_AS(adam.add_param_group({{"a again", a}}), core::ValueError);
        CHECK_THROWS_AS(adam.add_param_group({{"c", c}, {"c twice", c}}), core::ValueError);
        CHECK_THROWS_AS(adam.add_param_group({{"c", c}}, "scalar"), core::ValueError);  // name taken
        CHECK_THROWS_AS(adam.add_param_group({{"c", c}}, -1.0f, 0.0f), core::ValueError);
        CHECK_THROWS_AS(adam.add_param_group({{"undefined", Variable()}}), core::ValueError);
        CHECK_THROWS_AS(adam.add_param_group({{"non-leaf", autograd::mul(c, 2.0f)}}), core::ValueError);
        CHECK_THROWS_AS(adam.set_lr(std::numeric_limits<float>::quiet_NaN()), core::ValueError);
        CHECK(adam.group_count() == 2);  // failed adds left nothing behind
        CHECK_FALSE(adam.contains(c));
        adam.add_param_group({{"c", c}});  // c was not registered by the failed attempts
        CHECK(adam.contains(c));
        CHECK_THROWS_AS(SGD({.lr = 0.1f, .nesterov = true}), core::ValueError);
        CHECK_THROWS_AS(SGD({.lr = 0.1f, .momentum = -0.5f}), core::ValueError);
        CHECK_THROWS_AS(Adam({.beta1 = 1.0f}), core::ValueError);
        CHECK_THROWS_AS(AdamW({.eps = -1.0f}), core::ValueError);
        // A hyper-parameter broken after the fact is caught by step(), before anything moves.
        adam.param_group(0).beta2 = 1.5f;
        set_quadratic_grad(a);
        const Tensor a_before = a.value().clone();
        CHECK_THROWS_AS(adam.step(), core::ValueError);
        CHECK(bit_identical(a.value(), a_before));
    }
}

TEST_CASE("snapshot and restore round trip") {
    Variable a = quadratic_param(), b = make_param({3.0f, -1.0f});
    AdamW adamw({.lr = 0.05f, .weight_decay = 0.4f});
    adamw.add_param_group({{"a", a}}, "a");
    adamw.add_param_group({{"b", b}}, 0.01f, 0.04f, "b");
    auto train = [&](int steps) {
        for (int step = 0; step < steps; ++step) {
            set_quadratic_grad(a);
            set_quadratic_grad(b);
            adamw.step();
        }
    };
    train(3);
    const OptimizerSnapshot snap = adamw.snapshot(/*with_values=*/true);
    CHECK(snap.has_values());
    const Tensor a3 = a.value().clone(), b3 = b.value().clone();
    const ParamState a_state3 = copy_state(adamw.state(a));

    train(5);
    const Tensor a8 = a.value().clone(), b8 = b.value().clone();
    adamw.param_group("a").weight_decay = 4e-3f;  // a new try...

    for (int round = 0; round < 2; ++round) {  // a snapshot restores any number of times
        INFO("round ", round);
        adamw.restore(snap);
        CHECK(bit_identical(a.value(), a3));
        CHECK(bit_identical(b.value(), b3));
        CHECK(adamw.step_count(a) == 3);
        CHECK(same_state(adamw.state(a), &a_state3));
        CHECK(adamw.param_group("a").weight_decay == 0.4f);  // hyper-parameters come back too
        adamw.param_group("a").weight_decay = 0.4f;
        train(5);
        CHECK(bit_identical(a.value(), a8));
        CHECK(bit_identical(b.value(), b8));
    }

    SUBCASE("without values only the optimizer's state comes back") {
        const OptimizerSnapshot state_only = adamw.snapshot();
        CHECK_FALSE(state_only.has_values());
        const Tensor a_now = a.value().clone();
        train(2);
        adamw.restore(state_only);
        CHECK(adamw.step_count(a) == 8);
        CHECK_FALSE(bit_identical(a.value(), a_now));  // values are the caller's then
    }
    SUBCASE("state taken after the snapshot is dropped") {
        Variable late = quadratic_param();
        SGD sgd({.lr = 0.1f, .momentum = 0.9f});
        sgd.add_param_group({{"late", late}});
        const OptimizerSnapshot empty = sgd.snapshot();
        set_quadratic_grad(late);
        sgd.step();
        CHECK(sgd.state(late) != nullptr);
        sgd.restore(empty);
        CHECK(sgd.state(late) == nullptr);
    }
    SUBCASE("a snapshot of another optimizer is refused, nothing changes") {
        Variable other = quadratic_param();
        AdamW different({{"other", other}}, {});
        set_quadratic_grad(other);
        different.step();
        const Tensor a_now = a.value().clone();
        CHECK_THROWS_AS(adamw.restore(different.snapshot(true)), core::ValueError);
        CHECK_THROWS_AS(different.restore(snap), core::ValueError);
        CHECK(bit_identical(a.value(), a_now));
        CHECK(adamw.step_count(a) == 8);
    }
    SUBCASE("reset_state: the next step is a first step again") {
        adamw.reset_state();
        CHECK(adamw.state(a) == nullptr);
        CHECK(adamw.step_count(b) == 0);
        Variable fresh(a.value().clone(), true);
        AdamW fresh_optimizer({{"fresh", fresh}}, {.lr = 0.05f, .weight_decay = 0.4f});
        set_quadratic_grad(a);
        set_quadratic_grad(b);
        set_quadratic_grad(fresh);
        adamw.step();
        fresh_optimizer.step();
        CHECK(bit_identical(a.value(), fresh.value()));
        adamw.reset_state(b);
        CHECK(adamw.step_count(a) == 1);
        CHECK(adamw.step_count(b) == 0);
    }
}

TEST_CASE("a NaN or Inf gradient throws NumericError naming the parameter, and nothing moves") {
    Variable first = quadratic_param(), second = make_param({1.0f, 2.0f, 3.0f});
    Adam adam({.lr = 0.1f, .weight_decay = 0.1f});
    adam.add_param_group({{"features.0.weight", first}});
    adam.add_param_group({{"features.2.threshold", second}}, "thresholds");
    set_quadratic_grad(first);
    second.grad() = Tensor::from_vector({3}, {0.5f, 0.5f, 0.5f});
    adam.step();
    const Tensor first_before = first.value().clone(), second_before = second.value().clone();
    const ParamState first_state = copy_state(adam.state(first)), second_state = copy_state(adam.state(second));

    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
        INFO("bad value ", bad);
        set_quadratic_grad(first);  // valid, and earlier in order than the bad one
        second.grad() = Tensor::from_vector({3}, {0.5f, bad, 0.5f});
        std::string message;
        try {
            adam.step();
        } catch (const core::NumericError& error) {
            message = error.what();
        }
        CHECK(message.find("features.2.threshold") != std::string::npos);
        CHECK(message.find("element 1") != std::string::npos);
        CHECK(bit_identical(first.value(), first_before));
        CHECK(bit_identical(second.value(), second_before));
        CHECK(same_state(adam.state(first), &first_state));
        CHECK(same_state(adam.state(second), &second_state));
    }
    SUBCASE("a frozen parameter's NaN gradient is not looked at") {
        second.set_requires_grad(false);
        set_quadratic_grad(first);
        CHECK_NOTHROW(adam.step());
        CHECK(bit_identical(second.value(), second_before));
    }
    SUBCASE("in a big tensor, at its last element") {
        Variable big(Tensor::zeros({100000}), true);
        SGD sgd({{"big", big}}, {.lr = 0.1f});
        Tensor grad = Tensor::ones({100000});
        grad.data()[99999] = std::numeric_limits<float>::quiet_NaN();
        big.grad() = grad;
        CHECK_THROWS_WITH_AS(sgd.step(), doctest::Contains("element 99999"), core::NumericError);
        CHECK(big.value().to_vector() == std::vector<float>(100000, 0.0f));
    }
    SUBCASE("a gradient of the wrong shape is a ShapeError, nothing moves") {
        set_quadratic_grad(first);
        second.grad() = Tensor::ones({2});
        CHECK_THROWS_AS(adam.step(), core::ShapeError);
        CHECK(bit_identical(first.value(), first_before));
    }
}

TEST_CASE("a steady-state step allocates nothing") {
    Variable p = quadratic_param();
    const std::vector<std::pair<const char*, MakeOptimizer>> cases = {
        {"SGD momentum", [](NamedParameters ps) -> std::unique_ptr<Optimizer> {
             return std::make_unique<SGD>(ps, SgdOptions{.lr = 0.01f, .momentum = 0.9f, .weight_decay = 0.1f});
         }},
        {"Adam", [](NamedParameters ps) -> std::unique_ptr<Optimizer> {
             return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.01f});
         }},
    };
    for (const auto& [label, make] : cases) {
        INFO(std::string(label));
        Variable q = quadratic_param();
        auto optimizer = make({{"p", p}});
        optimizer->add_param_group({{"q", q}}, 0.001f, 0.5f, "a group name longer than any small-string buffer");
        set_quadratic_grad(p);
        set_quadratic_grad(q);
        optimizer->step();  // first step: state buffers are allocated
        const core::BufferPoolStats before = core::buffer_pool_stats();
        const int64_t heap_before = heap_allocations.load();
        for (int step = 0; step < 20; ++step) optimizer->step();  // the same gradient, re-used
        const int64_t heap_after = heap_allocations.load();
        const core::BufferPoolStats after = core::buffer_pool_stats();
        CHECK(after.hits == before.hits);
        CHECK(after.misses == before.misses);
        CHECK(heap_after == heap_before);
    }
}

TEST_CASE("schedules") {
    SUBCASE("Constant") {
        Constant constant(0.01f);
        CHECK(constant.lr_at(0) == 0.01f);
        CHECK(constant.lr_at(1000) == 0.01f);
        CHECK(constant.factor_at(7) == 1.0f);
    }
    SUBCASE("StepLR") {
        StepLR step(0.1f, 30, 0.1f);
        CHECK(step.lr_at(0) == doctest::Approx(0.1));
        CHECK(step.lr_at(29) == doctest::Approx(0.1));
        CHECK(step.lr_at(30) == doctest::Approx(0.01));
        CHECK(step.lr_at(59) == doctest::Approx(0.01));
        CHECK(step.lr_at(65) == doctest::Approx(0.001));
        CHECK(step.factor_at(90) == doctest::Approx(0.001));
    }
    SUBCASE("CosineAnnealing") {
        CosineAnnealing cosine(0.1f, 100, 0.001f);
        CHECK(cosine.lr_at(0) == doctest::Approx(0.1));
        CHECK(cosine.lr_at(50) == doctest::Approx(0.0505));                       // halfway: the mean
        CHECK(cosine.lr_at(25) == doctest::Approx(0.001 + 0.099 * (1 + std::sqrt(0.5)) / 2));
        CHECK(cosine.lr_at(100) == doctest::Approx(0.001));
        CHECK(cosine.lr_at(150) == doctest::Approx(0.001));                        // stays at min_lr
        CosineAnnealing to_zero(1.0f, 4);
        CHECK(to_zero.lr_at(1) == doctest::Approx((1 + std::cos(std::numbers::pi / 4)) / 2));
        CHECK(to_zero.lr_at(4) == 0.0f);
    }
    SUBCASE("LinearWarmup") {
        LinearWarmup warm(Constant(0.1f), 5, 0.2f);
        CHECK(warm.lr_at(0) == doctest::Approx(0.02));
        CHECK(warm.lr_at(1) == doctest::Approx(0.036));  // factor 0.2 + 0.8 / 5
        CHECK(warm.lr_at(4) == doctest::Approx(0.084));
        CHECK(warm.lr_at(5) == doctest::Approx(0.1));
        CHECK(warm.lr_at(50) == doctest::Approx(0.1));
        // Over a cosine: the cosine keeps its own clock.
        LinearWarmup warm_cosine(CosineAnnealing(0.1f, 100), 10, 0.1f);
        CosineAnnealing cosine(0.1f, 100);
        CHECK(warm_cosine.lr_at(0) == doctest::Approx(0.01));
        CHECK(warm_cosine.lr_at(5) == doctest::Approx(cosine.lr_at(5) * 0.55));
        CHECK(warm_cosine.lr_at(10) == cosine.lr_at(10));
        CHECK(warm_cosine.lr_at(60) == cosine.lr_at(60));
        CHECK(warm_cosine.base_lr() == 0.1f);
        LinearWarmup none(Constant(0.5f), 0, 0.1f);
        CHECK(none.lr_at(0) == 0.5f);
    }
    SUBCASE("applied to an optimizer, one schedule over groups of different rates") {
        Variable a = quadratic_param(), b = quadratic_param();
        AdamW adamw;
        adamw.add_param_group({{"a", a}}, 0.01f, 0.4f);
        adamw.add_param_group({{"b", b}}, 0.001f, 0.4f);
        StepLR step(0.01f, 2, 0.5f);
        adamw.set_lr_factor(step.factor_at(4));
        CHECK(adamw.lr(0) == doctest::Approx(0.0025));
        CHECK(adamw.lr(1) == doctest::Approx(0.00025));
        adamw.set_lr(step.lr_at(2));
        CHECK(adamw.lr(1) == doctest::Approx(0.005));
    }
    SUBCASE("bad arguments") {
        CHECK_THROWS_AS(StepLR(0.1f, 0), core::ValueError);
        CHECK_THROWS_AS(StepLR(0.1f, 10, 0.0f), core::ValueError);
        CHECK_THROWS_AS(CosineAnnealing(0.1f, 0), core::ValueError);
        CHECK_THROWS_AS(CosineAnnealing(-0.1f, 10), core::ValueError);
        CHECK_THROWS_AS(LinearWarmup(Constant(0.1f), -1), core::ValueError);
        CHECK_THROWS_AS(LinearWarmup(Constant(0.1f), 5, 0.0f), core::ValueError);
        CHECK_THROWS_AS(LinearWarmup(std::shared_ptr<const Schedule>(), 5), core::ValueError);
        CHECK_THROWS_AS(Constant(0.1f).lr_at(-1), core::ValueError);
        CHECK_THROWS_AS(Constant(0.0f).factor_at(0), core::ValueError);
    }
}

TEST_CASE("SGD solves a least-squares problem through backward()") {
    // X (64, 5), w_true (5, 1), y = X w_true; minimise mean((X w - y)²) from w = 0.
    core::Rng rng(2024, "test-optim-least-squares");
    const Tensor x = Tensor::normal({64, 5}, 0.0f, 1.0f, rng);
    const Tensor w_true = Tensor::from_vector({5, 1}, {1.5f, -2.0f, 0.5f, 3.0f, -0.25f});
    const Variable inputs(x), targets(core::matmul(x, w_true));
    Variable weights(Tensor::zeros({5, 1}), true);
    SGD sgd({{"weights", weights}}, {.lr = 0.05f, .momentum = 0.9f});
    float loss_value = 0.0f;
    for (int step = 0; step < 300; ++step) {
        sgd.zero_grad();
        Variable loss = autograd::mse(autograd::matmul(inputs, weights), targets);
        loss_value = loss.item();
        loss.backward();
        sgd.step();
    }
    CHECK(loss_value < 1e-8f);
    CHECK(core::max_abs_diff(weights.value(), w_true) < 1e-4f);
}
