// The weight range guard: forward semantics, gradient, checkpoint round trip and corrupt metadata,
// fault-target selection, and campaigns whose fast paths give the plain recomputation's bits.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "autograd/gradcheck.hpp"
#include "autograd/ops.hpp"
#include "core/range_guard.hpp"
#include "core/safetensors.hpp"
#include "faults/campaign.hpp"
#include "faults/injector.hpp"
#include "faults/report.hpp"
#include "layers/checkpoint.hpp"
#include "layers/hybrid_clip.hpp"
#include "layers/range_guard.hpp"
#include "layers/zoo.hpp"
#include "proact/hardening_report.hpp"
#include "test_faults_fixture.hpp"

using namespace proact;
using autograd::Variable;
using core::Tensor;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<std::vector<int64_t>> per_trial(const faults::CampaignResult& result) {
    std::vector<std::vector<int64_t>> correct;
    for (const faults::PointResult& point : result.points) correct.push_back(point.correct);
    return correct;
}

// One name per process: two suites running at once (two build trees) never share a file.
std::string temp_path(const char* name) {
    return (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "_" + name)).string();
}

}  // namespace

TEST_CASE("range guard kernel: out of range, NaN and inf become 0, in range unchanged") {
    const std::vector<float> values = {-1.0f, -0.5f, 0.0f, 0.25f, 0.5f, 0.75f, kNaN, kInf, -kInf, 1e30f};
    std::vector<float> out(values.size());
    core::range_guard_forward(values, -0.5f, 0.5f, out);
    CHECK(out == std::vector<float>{0.0f, -0.5f, 0.0f, 0.25f, 0.5f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f});
    // a NaN bound (a faulted one) lets nothing through
    core::range_guard_forward(values, kNaN, 0.5f, out);
    for (float v : out) CHECK(v == 0.0f);
    std::vector<float> too_short(3);
    CHECK_THROWS_AS(core::range_guard_forward(values, 0.0f, 1.0f, too_short), core::ShapeError);
}

TEST_CASE("range_guard op: gradient to the kept values, none to the bounds") {
    autograd::GradcheckOptions options;
    options.allow_zero = {1};
    const auto fn = [](const std::vector<Variable>& in) { return autograd::range_guard(in[0], in[1]); };
    // values away from the bounds (the op has jumps there)
    const Tensor values = Tensor::from_vector({2, 3}, {-0.9f, -0.3f, 0.1f, 0.4f, 0.8f, 1.7f});
    const auto result = autograd::gradcheck(fn, {values, Tensor::from_vector({2}, {-0.5f, 1.0f})}, options);
    CHECK_MESSAGE(result.ok, result.message);
    Variable x(values, true);
    autograd::sum(autograd::range_guard(x, Variable(Tensor::from_vector({2}, {-0.5f, 1.0f})))).backward();
    CHECK(x.grad().to_vector() == std::vector<float>{0, 1, 1, 1, 1, 0});
    CHECK_THROWS_AS(autograd::range_guard(x, Variable(Tensor::zeros({3}))), core::ShapeError);
}

TEST_CASE("a guarded layer: same output fault-free, faulty weight removed, stored weights untouched") {
    layers::ModulePtr model = faults_test::tiny_cnn(3);
    const faults_test::TinyData data = faults_test::tiny_data(*model, 20, 3);
    autograd::NoGradGuard no_grad;
    const Tensor before = (*model)(Variable(data.images)).value().clone();
    CHECK(layers::apply_range_guard(*model) == 16);  // 4 layers x (weight + bias) x 2
    CHECK(layers::range_guard_values(*model) == 16);
    const Tensor guarded = (*model)(Variable(data.images)).value();
    CHECK(guarded.to_vector() == before.to_vector());

    auto& conv = static_cast<layers::Conv2d&>(*model->find("features.0"));
    CHECK(conv.weight_bounds().value().to_vector() == layers::value_bounds(conv.weight().value()).to_vector());
    CHECK_FALSE(conv.weight_bounds().requires_grad());
    Variable weight = conv.weight();  // shares the layer's storage
    weight.value().data()[0] = 1e6f;
    CHECK(conv.effective_weight().data()[0] == 0.0f);
    CHECK(conv.weight().value().data()[0] == 1e6f);
    weight.value().data()[0] = 0.0f;
    const Tensor zeroed = (*model)(Variable(data.images)).value().clone();
    weight.value().data()[0] = 1e6f;
    CHECK((*model)(Variable(data.images)).value().to_vector() == zeroed.to_vector());
    CHECK_THROWS_AS(conv.enable_range_guard(), core::ValueError);
}

TEST_CASE("guarded checkpoint: round trip, and corrupt guard metadata or bounds are FormatErrors") {
    layers::ModulePtr model = layers::make_model("lenet5", {1, 28, 28}, 10, 7);
    layers::apply_range_guard(*model);
    const std::string path = temp_path("proact_test_guard.safetensors");
    layers::save_checkpoint(path, *model);
    layers::ModulePtr again = layers::load_model(path);
    CHECK(layers::range_guard_values(*again) == layers::range_guard_values(*model));
    CHECK(again->state_dict().size() == model->state_dict().size());
    for (const auto& [name, value] : model->state_dict()) CHECK(again->state_dict().at(name).to_vector() == value.to_vector());

    core::TensorFile file = core::load_safetensors(path);
    const std::string corrupt = temp_path("proact_test_guard_corrupt.safetensors");
    SUBCASE("unknown guard value") {
        file.metadata["range_guard"] = "conv";
        core::save_safetensors(corrupt, file);
        CHECK_THROWS_AS(layers::load_model(corrupt), core::FormatError);
    }
    SUBCASE("bounds without the metadata") {
        file.metadata.erase("range_guard");
        core::save_safetensors(corrupt, file);
        CHECK_THROWS_AS(layers::load_model(corrupt), core::FormatError);
    }
    SUBCASE("a bound missing") {
        file.tensors.erase("features.0.bias_bounds");
        core::save_safetensors(corrupt, file);
        CHECK_THROWS_AS(layers::load_model(corrupt), core::FormatError);
    }
    SUBCASE("a bound of the wrong shape") {
        file.tensors["features.0.bias_bounds"] = Tensor::zeros({3});
        core::save_safetensors(corrupt, file);
        CHECK_THROWS_AS(layers::load_model(corrupt), core::FormatError);
    }
    std::remove(corrupt.c_str());
    std::remove(path.c_str());
}

TEST_CASE("a partly guarded model cannot be saved") {
    layers::ModulePtr model = faults_test::tiny_cnn(3);
    static_cast<layers::Linear&>(*model->find("classifier.0")).enable_range_guard();
    CHECK_THROWS_AS(layers::guard_metadata(*model), core::ValueError);
}

TEST_CASE("bounds are fault targets by default, and left out with the thresholds") {
    layers::ModulePtr model = faults_test::tiny_cnn(3);
    layers::apply_range_guard(*model);
    std::vector<std::string> bounds;
    for (const faults::FaultTarget& target : faults::select_targets(*model))
        if (target.name.ends_with("_bounds")) bounds.push_back(target.name);
    CHECK(bounds.size() == 8);
    CHECK(bounds.front() == "features.0.weight_bounds");
    for (const faults::FaultTarget& target : faults::select_targets(*model, {}, false))
        CHECK_FALSE(target.name.ends_with("_bounds"));
}

TEST_CASE("campaigns on guarded (and clipped + guarded) models: fast paths equal the plain recomputation") {
    for (const char* config : {"", "hybrid:smooth:20", "layer:hard"}) {
        CAPTURE(config);
        layers::ModulePtr model = faults_test::tiny_cnn(4);
        if (*config) {
            layers::apply_clip(*model, {1, 8, 8}, layers::HybridClip::parse(config));
            core::Rng rng(9, "thresholds");
            for (auto& [name, p] : model->named_parameters())
                if (name.ends_with(".threshold")) p.value().copy_(Tensor::uniform(p.shape(), 0.3f, 1.2f, rng));
        }
        layers::apply_range_guard(*model);
        model->eval();
        const faults_test::TinyData data = faults_test::tiny_data(*model, 150, 4);
        faults::CampaignOptions options;
        options.format = faults::StorageFormat::fixed_point(7, 8);
        options.bers = {3e-3, 3e-2};  // many weights hit, bounds too at the higher rate
        options.trials = 30;
        options.seed = 5;
        options.progress = false;
        options.batch_size = 64;
        std::vector<faults::FaultTarget> targets = faults::select_targets(*model);
        faults::quantize_targets(targets, options.format);
        // bounds alone: a flipped bound touches every row of its layer, not the row of its index
        for (const bool bounds_only : {false, true}) {
            CAPTURE(bounds_only);
            if (bounds_only) options.patterns = {"*_bounds"};

            options.stage_cache = false;
            options.reuse_fault_free = false;
            const faults::CampaignResult plain = faults::run_campaign(*model, data.images, data.labels, options);
            options.stage_cache = true;
            options.reuse_fault_free = true;
            options.channel_sparse = false;
            const faults::CampaignResult cached = faults::run_campaign(*model, data.images, data.labels, options);
            options.channel_sparse = true;
            faults::Campaign campaign(*model, data.images, data.labels, options);
            int sparse_stages = 0;
            for (const auto& stage : campaign.stages()) sparse_stages += stage.channel_sparse;
            CHECK(sparse_stages > 0);  // the guard keeps the fast paths on
            const faults::CampaignResult sparse = campaign.run();
            CHECK(per_trial(cached) == per_trial(plain));
            CHECK(per_trial(sparse) == per_trial(plain));
        }
    }
}

TEST_CASE("the hardening summary names the guard once, however the method's name says it") {
    for (const std::string method : {"guard", "proact+guard", "ranger+guard", "proact"}) {
        method::HardeningReport report;
        report.method = method;
        report.guard = method != "proact";
        const std::string line = method::hardening_summary(report);
        CAPTURE(line);
        CHECK(line.find("guard+guard") == std::string::npos);
        CHECK(line.rfind(method + ":", 0) == 0);
    }
    method::HardeningReport clipped;
    clipped.method = "ranger";
    clipped.guard = true;
    CHECK(method::hardening_summary(clipped).rfind("ranger+guard:", 0) == 0);
}
