// Batch-norm folding: eval-mode logits kept on the zoo's batch-norm models, names kept, biases
// gained, models without batch norm untouched, checkpoints of folded (and folded, clipped and
// guarded) models, bad metadata, refused folds, fault targets and campaigns on a folded model.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "autograd/ops.hpp"
#include "core/safetensors.hpp"
#include "faults/campaign.hpp"
#include "faults/targets.hpp"
#include "layers/layers.hpp"
#include "support/test_support.hpp"

using namespace proact;
using autograd::Variable;
using core::Shape;
using core::Tensor;

namespace {

// Batch-norm weights, biases and running statistics drawn from an Rng (a fresh model has 1, 0, 0,
// 1, which would make folding look right with the statistics ignored).
void randomise_batch_norms(layers::Module& model, uint64_t seed) {
    core::Rng rng(seed, "fold-test-batch-norm");
    for (auto& [path, module] : model.named_modules()) {
        if (!dynamic_cast<layers::BatchNorm*>(module.get())) continue;
        std::map<std::string, Tensor> state = module->state_dict();
        const Shape shape = state.at("weight").shape();
        state.at("weight").copy_(Tensor::uniform(shape, 0.5f, 1.5f, rng));
        state.at("bias").copy_(Tensor::uniform(shape, -0.5f, 0.5f, rng));
        state.at("running_mean").copy_(Tensor::uniform(shape, -0.3f, 0.3f, rng));
        state.at("running_var").copy_(Tensor::uniform(shape, 0.3f, 2.0f, rng));
    }
}

Variable input_batch(const Shape& image_shape, uint64_t index = 0) {
    core::Rng rng(17, "fold-test-input", index);
    Shape shape = image_shape;
    shape.insert(shape.begin(), 3);
    return Variable(Tensor::uniform(shape, 0.0f, 1.0f, rng));
}

Tensor eval_logits(layers::Module& model, const Variable& input) {
    layers::ModeGuard eval_mode(model, /*training=*/false);
    autograd::NoGradGuard no_grad;
    return model(input).value().clone();
}

double max_abs(const Tensor& a) {
    double largest = 0.0;
    for (float v : a.to_vector()) largest = std::max(largest, std::abs(static_cast<double>(v)));
    return largest;
}

double max_difference(const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    const std::vector<float> x = a.to_vector(), y = b.to_vector();
    double worst = 0.0;
    for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(x[i]) - y[i]));
    return worst;
}

// max |a - b| <= 1e-4 max |a|: float rounding, not a changed computation.
void check_close(const Tensor& a, const Tensor& b) { CHECK(max_difference(a, b) <= 1e-4 * max_abs(a)); }

std::map<std::string, std::string> module_types(layers::Module& model) {
    std::map<std::string, std::string> types;
    for (auto& [path, module] : model.named_modules()) types[path] = module->type_name();
    return types;
}

bool same_state(const layers::Module& a, const layers::Module& b) {
    const auto left = a.state_dict(), right = b.state_dict();
    if (left.size() != right.size()) return false;
    for (const auto& [name, value] : left)
        if (!right.count(name) || !core::equal(right.at(name), value)) return false;
    return true;
}

// The conv that feeds the batch norm at `path`: "x.bn1" <- "x.conv1", "x.bn2" <- "x.conv2",
// "x.3" <- "x.2" (a Sequential).
std::string feeding_conv(const std::string& path) {
    const size_t dot = path.rfind('.');
    const std::string parent = dot == std::string::npos ? "" : path.substr(0, dot + 1);
    const std::string last = dot == std::string::npos ? path : path.substr(dot + 1);
    if (last == "bn1") return parent + "conv1";
    if (last == "bn2") return parent + "conv2";
    return parent + std::to_string(std::stoi(last) - 1);
}

struct Case {
    std::string model;
    Shape input;
    int64_t batch_norms;
};

const std::vector<Case> kCases = {{"vgg11_bn", {1, 28, 28}, 8},
                                  {"vgg11_bn", {3, 32, 32}, 8},
                                  {"resnet20", {1, 28, 28}, 21},
                                  {"resnet20", {3, 32, 32}, 21},
                                  {"vgg16_bn", {3, 32, 32}, 13}};

layers::ModulePtr random_bn_model(const Case& c, uint64_t seed = 3) {
    layers::ModulePtr model = layers::make_model(c.model, c.input, 10, seed);
    randomise_batch_norms(*model, seed);
    return model;
}

}  // namespace

TEST_CASE("fold_batch_norm on the zoo: same eval logits, BN -> Identity in place, convs gain biases") {
    for (const Case& c : kCases) {
        CAPTURE(c.model);
        CAPTURE(core::shape_str(c.input));
        layers::ModulePtr model = random_bn_model(c);
        const Variable x = input_batch(c.input);
        const Tensor before = eval_logits(*model, x);
        // the statistics matter: with a fresh model's (1, 0, 0, 1) the logits are far off
        layers::ModulePtr fresh = layers::make_model(c.model, c.input, 10, 3);
        CHECK(max_difference(eval_logits(*fresh, x), before) > 0.05 * max_abs(before));
        const std::map<std::string, std::string> types_before = module_types(*model);
        std::set<std::string> bn_paths;
        for (const auto& [path, type] : types_before)
            if (type == "BatchNorm2d") bn_paths.insert(path);
        REQUIRE(static_cast<int64_t>(bn_paths.size()) == c.batch_norms);

        // folded in training mode (make_model's): the running statistics are used all the same
        REQUIRE(model->is_training());
        CHECK(layers::fold_batch_norm(*model) == c.batch_norms);
        CHECK(model->is_training());
        check_close(eval_logits(*model, x), before);
        CHECK(layers::folded_batch_norms(*model) == c.batch_norms);
        CHECK(layers::fold_metadata(*model).at("batch_norm") == "folded");

        // every module keeps its path; each batch norm is an Identity, its conv has a bias
        const std::map<std::string, std::string> types_after = module_types(*model);
        REQUIRE(types_after.size() == types_before.size());
        for (const auto& [path, type] : types_after) {
            CAPTURE(path);
            REQUIRE(types_before.count(path));
            if (bn_paths.count(path)) {
                CHECK(type == "Identity");
                CHECK(model->find(path)->describe() == "Identity(folded BatchNorm2d)");
                const auto* conv = dynamic_cast<const layers::Conv2d*>(model->find(feeding_conv(path)).get());
                REQUIRE(conv);
                CHECK(conv->bias().defined());
                CHECK(conv->bias().requires_grad());
            } else {
                CHECK(type == types_before.at(path));
            }
        }
        for (const auto& [name, value] : model->state_dict()) {
            CAPTURE(name);
            CHECK(!test::contains(name, "running_"));
            CHECK(!test::contains(name, "num_batches_tracked"));
            const size_t dot = name.rfind('.');
            CHECK(!bn_paths.count(name.substr(0, dot)));
        }

        // nothing left to fold; a second call changes nothing
        const std::map<std::string, Tensor> folded = model->state_dict();
        std::map<std::string, Tensor> copies;
        for (const auto& [name, value] : folded) copies[name] = value.clone();
        CHECK(layers::fold_batch_norm(*model) == 0);
        for (const auto& [name, value] : copies) CHECK(core::equal(model->state_dict().at(name), value));
    }
}

TEST_CASE("fold_batch_norm is deterministic: two folds of the same model give the same bytes") {
    const Case c{"resnet20", {3, 32, 32}, 21};
    layers::ModulePtr a = random_bn_model(c, 9), b = random_bn_model(c, 9);
    layers::fold_batch_norm(*a);
    layers::fold_batch_norm(*b);
    CHECK(same_state(*a, *b));
}

TEST_CASE("a model without batch norm folds nothing and is unchanged bit for bit") {
    for (const char* name : {"lenet5", "vgg11"}) {
        CAPTURE(name);
        layers::ModulePtr model = layers::make_model(name, {1, 28, 28}, 10, 2);
        layers::ModulePtr twin = layers::make_model(name, {1, 28, 28}, 10, 2);
        const std::string summary = model->summary();
        CHECK(layers::fold_batch_norm(*model) == 0);
        CHECK(same_state(*model, *twin));
        CHECK(model->summary() == summary);
        CHECK(layers::fold_metadata(*model).empty());
    }
}

TEST_CASE("a batch norm after a Linear folds; one after anything else stays") {
    core::Rng rng(4, "init");
    auto model = std::make_shared<layers::Sequential>();
    model->add(std::make_shared<layers::Conv2d>(2, 3, 3, rng, 1, 1, /*bias=*/false));  // 0
    model->add(std::make_shared<layers::ReLU>());                                     // 1
    model->add(std::make_shared<layers::BatchNorm2d>(3));                             // 2: after a ReLU
    model->add(std::make_shared<layers::MaxPool2d>(2));                               // 3
    model->add(std::make_shared<layers::Flatten>());                                  // 4
    model->add(std::make_shared<layers::Linear>(12, 5, rng));                         // 5
    model->add(std::make_shared<layers::BatchNorm1d>(5));                             // 6: folds
    model->add(std::make_shared<layers::BatchNorm1d>(5));                             // 7: after a BN
    model->add(std::make_shared<layers::Linear>(5, 4, rng, /*bias=*/false));          // 8
    randomise_batch_norms(*model, 4);
    const Variable x = input_batch({2, 4, 4});
    const Tensor before = eval_logits(*model, x);

    CHECK(layers::fold_batch_norm(*model) == 1);
    check_close(eval_logits(*model, x), before);
    CHECK(model->at(6)->describe() == "Identity(folded BatchNorm1d)");
    CHECK(model->at(2)->type_name() == "BatchNorm2d");
    CHECK(model->at(7)->type_name() == "BatchNorm1d");
    CHECK(!std::static_pointer_cast<layers::Conv2d>(model->at(0))->bias().defined());
    CHECK(layers::folded_batch_norms(*model) == 1);
}

TEST_CASE("folds that cannot be made are refused before anything changes") {
    SUBCASE("a range-guarded conv") {
        layers::ModulePtr model = random_bn_model({"resnet20", {1, 28, 28}, 21});
        std::static_pointer_cast<layers::Conv2d>(model->find("layer3.2.conv2"))->enable_range_guard();
        layers::ModulePtr twin = random_bn_model({"resnet20", {1, 28, 28}, 21});
        std::static_pointer_cast<layers::Conv2d>(twin->find("layer3.2.conv2"))->enable_range_guard();
        const std::string message = test::message_of<core::ValueError>([&] { layers::fold_batch_norm(*model); });
        CHECK(test::contains(message, "layer3.2.bn2"));
        CHECK(test::contains(message, "range-guarded"));
        CHECK(same_state(*model, *twin));  // conv1 .. layer3.2.conv1 not folded either
        CHECK(layers::folded_batch_norms(*model) == 0);
    }
    SUBCASE("running_var + eps not positive, or a statistic not finite") {
        for (float bad : {-1.0f, std::numeric_limits<float>::quiet_NaN()}) {
            layers::ModulePtr model = random_bn_model({"vgg11_bn", {1, 28, 28}, 8});
            model->state_dict().at("features.19.running_var").data()[5] = bad;
            const std::string message = test::message_of<core::ValueError>([&] { layers::fold_batch_norm(*model); });
            CHECK(test::contains(message, "features.19 channel 5"));
            CHECK(layers::folded_batch_norms(*model) == 0);
            CHECK(model->find("features.1")->type_name() == "BatchNorm2d");
        }
    }
    SUBCASE("add_bias on a layer that has one, or is guarded") {
        core::Rng rng(1, "init");
        layers::Conv2d with_bias(1, 2, 3, rng);
        CHECK_THROWS_AS(with_bias.add_bias(), core::ValueError);
        layers::Linear guarded(3, 2, rng, /*bias=*/false);
        guarded.enable_range_guard();
        CHECK_THROWS_AS(guarded.add_bias(), core::ValueError);
        layers::Linear plain(3, 2, rng, /*bias=*/false);
        plain.add_bias();
        CHECK(plain.named_parameters().back().first == "bias");
        CHECK(core::equal(plain.bias().value(), Tensor::zeros({2})));
    }
}

TEST_CASE("a folded checkpoint loads with no extra flags, same logits bit for bit") {
    test::TempDir dir("proact-test-fold");
    for (const Case& c : {kCases[0], kCases[3]}) {
        CAPTURE(c.model);
        layers::ModulePtr model = random_bn_model(c);
        layers::fold_batch_norm(*model);
        model->eval();
        const std::string path = dir.file("folded.safetensors");
        layers::save_checkpoint(path, *model);
        const layers::Checkpoint file = layers::load_checkpoint(path);
        CHECK(file.metadata.at("batch_norm") == "folded");
        for (const auto& [name, value] : file.tensors) CHECK(!test::contains(name, "running_"));
        layers::ModulePtr again = layers::load_model(path);
        CHECK(same_state(*again, *model));
        CHECK(layers::folded_batch_norms(*again) == c.batch_norms);
        const Variable x = input_batch(c.input, 1);
        CHECK(core::equal(eval_logits(*again, x), eval_logits(*model, x)));
    }
}

TEST_CASE("folded, then clipped, then guarded: each checkpoint loads with no extra flags, bit for bit") {
    test::TempDir dir("proact-test-fold");
    const Case c = kCases[2];  // resnet20 on 1x28x28
    layers::ModulePtr model = random_bn_model(c);
    layers::fold_batch_norm(*model);
    layers::apply_clip(*model, c.input, layers::HybridClip::parse("hybrid:smooth:20"));
    core::Rng rng(2, "thresholds");
    for (auto& [name, p] : model->named_parameters())
        if (name.ends_with(".threshold")) p.value().copy_(Tensor::uniform(p.shape(), 0.5f, 3.0f, rng));
    model->eval();
    const Variable x = input_batch(c.input, 2);
    for (bool guard : {false, true}) {
        CAPTURE(guard);
        if (guard) layers::apply_range_guard(*model);
        const std::string path = dir.file(guard ? "guarded.safetensors" : "clipped.safetensors");
        layers::save_checkpoint(path, *model);
        const layers::Checkpoint file = layers::load_checkpoint(path);
        CHECK(file.metadata.at("batch_norm") == "folded");
        CHECK(file.metadata.at("activation") == "hybrid:smooth:20");
        CHECK(file.metadata.count("range_guard") == (guard ? 1u : 0u));
        if (guard) CHECK(file.tensors.count("layer2.0.shortcut.0.bias_bounds") == 1);
        layers::ModulePtr again = layers::load_model(path);
        CHECK(same_state(*again, *model));
        CHECK(core::equal(eval_logits(*again, x), eval_logits(*model, x)));
    }
}

TEST_CASE("bad 'batch_norm' metadata is a FormatError naming it") {
    test::TempDir dir("proact-test-fold");
    layers::ModulePtr model = random_bn_model(kCases[0]);
    layers::fold_batch_norm(*model);
    const std::string path = dir.file("folded.safetensors");
    layers::save_checkpoint(path, *model);
    const layers::Checkpoint good = layers::load_checkpoint(path);
    const auto load_with = [&](const std::string& key, const std::string& value) {
        core::TensorFile file{good.tensors, good.metadata};
        if (value.empty()) file.metadata.erase(key);
        else file.metadata[key] = value;
        const std::string bad = dir.file("bad.safetensors");
        core::save_safetensors(bad, file);
        return bad;
    };
    const std::string unknown = test::message_of<core::FormatError>([&] { layers::load_model(load_with("batch_norm", "fused")); });
    CHECK(test::contains(unknown, "'batch_norm' is 'fused'"));
    CHECK(test::contains(unknown, "bad.safetensors"));
    // without the entry the model keeps its batch norms and the folded tensors do not fit it
    CHECK_THROWS_AS(layers::load_model(load_with("batch_norm", "")), core::ValueError);
    // "folded" on a model with nothing to fold
    layers::ModulePtr lenet = layers::make_model("lenet5", {1, 28, 28}, 10, 0);
    const std::string lenet_path = dir.file("lenet.safetensors");
    layers::save_checkpoint(lenet_path, *lenet, {{"batch_norm", "folded"}});
    CHECK(test::contains(test::message_of<core::FormatError>([&] { layers::load_model(lenet_path); }),
                         "no batch norm after a conv or linear layer"));
}

TEST_CASE("a folded model's new biases are fault targets, and campaigns on it change no number") {
    layers::ModulePtr resnet = random_bn_model(kCases[2]);
    layers::fold_batch_norm(*resnet);
    std::set<std::string> names;
    for (const faults::FaultTarget& target : faults::select_targets(*resnet)) names.insert(target.name);
    for (const char* bias : {"conv1.bias", "layer1.0.conv1.bias", "layer3.2.conv2.bias", "layer2.0.shortcut.0.bias"})
        CHECK(names.count(bias) == 1);

    // A small conv net with BN everywhere: the campaign's fast paths (stage cache, channel-sparse
    // restarts through the Identity) give the numbers of a plain full recomputation.
    core::Rng rng(6, "init");
    auto model = std::make_shared<layers::Sequential>();
    model->add(std::make_shared<layers::Conv2d>(1, 4, 3, rng, 1, 1, false));  // 0
    model->add(std::make_shared<layers::BatchNorm2d>(4));                     // 1
    model->add(std::make_shared<layers::ReLU>());                             // 2
    model->add(std::make_shared<layers::MaxPool2d>(2));                       // 3
    model->add(std::make_shared<layers::Conv2d>(4, 6, 3, rng, 1, 0, false));  // 4
    model->add(std::make_shared<layers::BatchNorm2d>(6));                     // 5
    model->add(std::make_shared<layers::ReLU>());                             // 6
    model->add(std::make_shared<layers::Flatten>());                          // 7
    model->add(std::make_shared<layers::Linear>(24, 5, rng));                 // 8
    randomise_batch_norms(*model, 6);
    CHECK(layers::fold_batch_norm(*model) == 2);
    model->eval();
    core::Rng data_rng(6, "fold-campaign-data");
    const Tensor images = Tensor::normal({120, 1, 8, 8}, 0.0f, 1.0f, data_rng);
    std::vector<int32_t> labels = layers::evaluate(*model, images, std::vector<int32_t>(120, 0), 64).predictions;
    for (size_t i = 0; i < labels.size(); i += 4) labels[i] = static_cast<int32_t>((labels[i] + 1) % 5);

    faults::CampaignOptions options;
    options.format = faults::StorageFormat::float32();
    options.bers = {3e-3, 3e-2};
    options.trials = 20;
    options.seed = 6;
    options.progress = false;
    options.batch_size = 64;
    options.stage_cache = false;
    options.reuse_fault_free = false;
    const faults::CampaignResult plain = faults::run_campaign(*model, images, labels, options);
    options.stage_cache = true;
    options.channel_sparse = true;
    options.reuse_fault_free = true;
    const faults::CampaignResult fast = faults::run_campaign(*model, images, labels, options);
    REQUIRE(plain.points.size() == fast.points.size());
    for (size_t p = 0; p < plain.points.size(); ++p) CHECK(plain.points[p].correct == fast.points[p].correct);

    faults::Campaign campaign(*model, images, labels, options);
    const auto& stages = campaign.stages();
    REQUIRE(stages.size() == 9);
    CHECK(stages[1].module->type_name() == "Identity");
    // the first conv's changed channels pass through Identity, ReLU and pool to the second conv
    CHECK(stages[0].channel_sparse);
    CHECK(stages[0].splice_stage == 4);
}
