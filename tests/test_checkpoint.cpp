// Checkpoints: round trips bit for bit, atomic saves, metadata errors, tensors that do not fit.
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "autograd/ops.hpp"
#include "core/safetensors.hpp"
#include "layers/layers.hpp"

#include "support/test_support.hpp"

using namespace proact;
using autograd::Variable;
using core::Shape;
using core::Tensor;
namespace fs = std::filesystem;

namespace {

using test::read_bytes;

// A fresh directory per test case, removed afterwards.
struct ScratchDirectory : test::TempDir {
    ScratchDirectory() : test::TempDir("proact_test_checkpoint") {}
};

Variable random_batch(int64_t batch, const Shape& image_shape, uint64_t index = 0) {
    core::Rng rng(21, "checkpoint-input", index);
    Shape shape = {batch};
    shape.insert(shape.end(), image_shape.begin(), image_shape.end());
    return Variable(Tensor::normal(shape, 0.0f, 1.0f, rng));
}

Tensor eval_logits(layers::Module& model, const Variable& input) {
    model.eval();
    autograd::NoGradGuard no_grad;
    return model(input).value().clone();
}

using test::contains;

template <class E, class F>
std::string error_message(F&& f) {
    return test::message_of<E>(std::forward<F>(f));
}


}  // namespace

TEST_CASE("checkpoint: save -> load_model gives the same logits bit for bit") {
    ScratchDirectory dir;
    for (const auto& [name, shape] : std::vector<std::pair<std::string, Shape>>{
             {"lenet5", {1, 28, 28}}, {"resnet20", {3, 32, 32}}, {"vgg11_bn", {1, 28, 28}}}) {
        CAPTURE(name);
        layers::ModulePtr model = layers::make_model(name, shape, 10, 5);
        // A training pass moves the BatchNorm running statistics away from their initial values.
        (*model)(random_batch(4, shape, 1));
        const Tensor expected = eval_logits(*model, random_batch(3, shape, 2));

        const std::string path = dir.file(name + ".safetensors");
        layers::save_checkpoint(path, *model, {{"epochs", "3"}, {"lr", "0.01"}, {"model", name}});
        layers::ModulePtr loaded = layers::load_model(path);
        CHECK_FALSE(loaded->is_training());
        CHECK(core::equal(loaded->state_dict().begin()->second, model->state_dict().begin()->second));
        for (const auto& [key, value] : model->state_dict()) {
            CAPTURE(key);
            CHECK(core::equal(loaded->state_dict().at(key), value));
        }
        CHECK(core::equal(eval_logits(*loaded, random_batch(3, shape, 2)), expected));

        const layers::Checkpoint checkpoint = layers::load_checkpoint(path);
        CHECK(checkpoint.metadata.at("model") == name);
        CHECK(checkpoint.metadata.at("input_shape") == layers::format_shape(shape));
        CHECK(checkpoint.metadata.at("num_classes") == "10");
        CHECK(checkpoint.metadata.at("init_seed") == "5");
        CHECK(checkpoint.metadata.at("epochs") == "3");
        CHECK(checkpoint.metadata.at("lr") == "0.01");
        CHECK(checkpoint.metadata.at("format") == "proact-checkpoint");
        CHECK(checkpoint.tensors.size() == model->state_dict().size());
    }
}

TEST_CASE("checkpoint: saving is deterministic and contradicting metadata is refused") {
    ScratchDirectory dir;
    auto model = layers::make_model("lenet5", {1, 28, 28}, 10, 1);
    layers::save_checkpoint(dir.file("a.safetensors"), *model, {{"seed", "1"}});
    layers::save_checkpoint(dir.file("b.safetensors"), *model, {{"seed", "1"}});
    CHECK(read_bytes(dir.file("a.safetensors")) == read_bytes(dir.file("b.safetensors")));

    const std::string message = error_message<core::ValueError>(
        [&] { layers::save_checkpoint(dir.file("c.safetensors"), *model, {{"num_classes", "100"}}); });
    CHECK(message == "save_checkpoint: metadata 'num_classes' is '100' but the model's is '10'");
    CHECK_FALSE(fs::exists(dir.file("c.safetensors")));
}

TEST_CASE("checkpoint: a save that fails half way keeps the previous checkpoint") {
    ScratchDirectory dir;
    const std::string path = dir.file("model.safetensors");
    auto first = layers::make_model("lenet5", {1, 28, 28}, 10, 1);
    layers::save_checkpoint(path, *first, {{"epoch", "1"}});
    const std::vector<unsigned char> first_bytes = read_bytes(path);
    auto second = layers::make_model("lenet5", {1, 28, 28}, 10, 2);

    // RLIMIT_FSIZE makes write() fail with EFBIG after 4 KiB (the checkpoint is ~250 KB);
    // SIGXFSZ, which would kill the process, is ignored meanwhile.
    struct rlimit saved_limit {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved_limit) == 0);
    struct rlimit small_limit = saved_limit;
    small_limit.rlim_cur = 4096;
    auto* saved_handler = std::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small_limit) == 0);
    bool threw_io_error = false;
    try {
        layers::save_checkpoint(path, *second, {{"epoch", "2"}});
    } catch (const core::IoError&) {
        threw_io_error = true;
    }
    ::setrlimit(RLIMIT_FSIZE, &saved_limit);
    std::signal(SIGXFSZ, saved_handler);

    CHECK(threw_io_error);
    CHECK(read_bytes(path) == first_bytes);
    auto loaded = layers::load_model(path);
    const Variable input = random_batch(2, {1, 28, 28});
    CHECK(core::equal(eval_logits(*loaded, input), eval_logits(*first, input)));
    CHECK(layers::load_checkpoint(path).metadata.at("epoch") == "1");
    int leftovers = 0;
    for (const auto& entry : fs::directory_iterator(dir.path)) leftovers += entry.path() != fs::path(path);
    CHECK(leftovers == 0);
}

TEST_CASE("checkpoint: missing, malformed or foreign metadata") {
    ScratchDirectory dir;
    auto model = layers::make_model("lenet5", {1, 28, 28}, 10, 1);
    const std::string good = dir.file("good.safetensors");
    layers::save_checkpoint(good, *model);
    const core::TensorFile original = core::load_safetensors(good);

    for (const std::string key : {"model", "input_shape", "num_classes"}) {
        CAPTURE(key);
        core::TensorFile file = original;
        file.metadata.erase(key);
        const std::string path = dir.file("without_" + key + ".safetensors");
        core::save_safetensors(path, file);
        const std::string message = error_message<core::FormatError>([&] { layers::load_model(path); });
        CHECK(contains(message, "no '" + key + "' entry"));
        CHECK(contains(message, path));
        CHECK(layers::load_checkpoint(path).tensors.size() == original.tensors.size());  // still readable
    }

    core::TensorFile malformed = original;
    malformed.metadata["input_shape"] = "1x28x28";
    core::save_safetensors(dir.file("malformed.safetensors"), malformed);
    CHECK(contains(error_message<core::FormatError>([&] { layers::load_model(dir.file("malformed.safetensors")); }),
                   "'input_shape' is '1x28x28'"));

    core::TensorFile unknown = original;
    unknown.metadata["model"] = "resnet50";
    core::save_safetensors(dir.file("unknown.safetensors"), unknown);
    CHECK(contains(error_message<core::FormatError>([&] { layers::load_model(dir.file("unknown.safetensors")); }),
                   "unknown model 'resnet50'"));

    // A module that is not from the zoo saves fine but cannot be rebuilt by name.
    core::Rng rng(1, "init");
    layers::Sequential plain;
    plain.add(std::make_shared<layers::Linear>(3, 2, rng));
    layers::save_checkpoint(dir.file("plain.safetensors"), plain, {{"note", "hand-built"}});
    CHECK(contains(error_message<core::FormatError>([&] { layers::load_model(dir.file("plain.safetensors")); }),
                   "no 'model' entry"));
    layers::Sequential plain_again;
    plain_again.add(std::make_shared<layers::Linear>(3, 2, rng));
    layers::load_weights(plain_again, layers::load_checkpoint(dir.file("plain.safetensors")).tensors);
    CHECK(core::equal(plain_again.state_dict().at("0.weight"), plain.state_dict().at("0.weight")));

    // Corrupt and missing files.
    std::vector<unsigned char> bytes = read_bytes(good);
    bytes.resize(bytes.size() / 2);
    std::ofstream(dir.file("truncated.safetensors"), std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    CHECK_THROWS_AS(layers::load_model(dir.file("truncated.safetensors")), core::FormatError);
    CHECK_THROWS_AS(layers::load_model(dir.file("absent.safetensors")), core::IoError);
}

TEST_CASE("checkpoint: tensors that do not fit the model are named in the error") {
    ScratchDirectory dir;
    // CIFAR-shaped LeNet weights under metadata claiming 1x28x28.
    auto cifar = layers::make_model("lenet5", {3, 32, 32}, 10, 1);
    layers::save_checkpoint(dir.file("cifar.safetensors"), *cifar);
    core::TensorFile file = core::load_safetensors(dir.file("cifar.safetensors"));
    file.metadata["input_shape"] = "1,28,28";
    core::save_safetensors(dir.file("mismatch.safetensors"), file);
    const std::string shape_message =
        error_message<core::ShapeError>([&] { layers::load_model(dir.file("mismatch.safetensors")); });
    CHECK(contains(shape_message, "mismatch.safetensors"));
    CHECK(contains(shape_message, "'classifier.0.weight' has shape [120, 576], the model expects [120, 400]"));

    auto model = layers::make_model("lenet5", {1, 28, 28}, 10, 1);
    layers::save_checkpoint(dir.file("good.safetensors"), *model);
    const core::TensorFile good = core::load_safetensors(dir.file("good.safetensors"));

    core::TensorFile missing = good;
    missing.tensors.erase("classifier.2.bias");
    core::save_safetensors(dir.file("missing.safetensors"), missing);
    CHECK(contains(error_message<core::ValueError>([&] { layers::load_model(dir.file("missing.safetensors")); }),
                   "missing entry 'classifier.2.bias'"));

    core::TensorFile extra = good;
    extra.tensors["classifier.9.weight"] = Tensor::zeros({2, 2});
    core::save_safetensors(dir.file("extra.safetensors"), extra);
    CHECK(contains(error_message<core::ValueError>([&] { layers::load_model(dir.file("extra.safetensors")); }),
                   "unexpected entry 'classifier.9.weight'"));

    // A failed load leaves the target model untouched.
    auto target = layers::make_model("lenet5", {1, 28, 28}, 10, 9);
    const Tensor before = target->state_dict().at("features.0.weight").clone();
    CHECK_THROWS_AS(layers::load_weights(*target, missing.tensors), core::ValueError);
    CHECK(core::equal(target->state_dict().at("features.0.weight"), before));
}

TEST_CASE("checkpoint: only num_batches_tracked may be absent") {
    auto source = layers::make_model("resnet20", {3, 32, 32}, 10, 1);
    (*source)(random_batch(2, {3, 32, 32}));  // num_batches_tracked = 1 everywhere, running stats moved
    std::map<std::string, Tensor> state = source->state_dict();
    std::erase_if(state, [](const auto& entry) { return entry.first.ends_with("num_batches_tracked"); });

    auto target = layers::make_model("resnet20", {3, 32, 32}, 10, 2);
    layers::load_weights(*target, state);
    CHECK(core::equal(target->state_dict().at("layer1.0.bn1.running_mean"),
                      source->state_dict().at("layer1.0.bn1.running_mean")));
    CHECK(target->state_dict().at("layer1.0.bn1.num_batches_tracked").item() == 0.0f);  // kept its own

    state.erase("layer2.1.bn2.running_var");
    CHECK(contains(error_message<core::ValueError>([&] { layers::load_weights(*target, state); }),
                   "missing entry 'layer2.1.bn2.running_var'"));
}

TEST_CASE("checkpoint: a PyTorch-style file with an int64 num_batches_tracked loads") {
    ScratchDirectory dir;
    // What safetensors.torch.save_file writes for nn.Sequential(nn.BatchNorm2d(2)).state_dict():
    // F32 parameters and running stats, num_batches_tracked as an I64 scalar.
    const std::vector<float> weight = {1.5f, 0.5f}, bias = {0.25f, -0.25f}, mean = {0.1f, 0.2f}, var = {2.0f, 3.0f};
    const int64_t tracked = 37;
    const std::string header =
        R"({"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
        R"("0.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[8,16]},)"
        R"("0.running_mean":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
        R"("0.running_var":{"dtype":"F32","shape":[2],"data_offsets":[24,32]},)"
        R"("0.weight":{"dtype":"F32","shape":[2],"data_offsets":[32,40]}})";
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
    bytes += header;
    auto append = [&bytes](const void* data, size_t size) { bytes.append(static_cast<const char*>(data), size); };
    append(bias.data(), 8);
    append(&tracked, 8);  // little-endian host, as the format is
    append(mean.data(), 8);
    append(var.data(), 8);
    append(weight.data(), 8);
    const std::string path = dir.file("torch_bn.safetensors");
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

    layers::Sequential model;
    model.add(std::make_shared<layers::BatchNorm2d>(2));
    layers::load_weights(model, layers::load_checkpoint(path).tensors, path);
    const auto state = model.state_dict();
    CHECK(state.at("0.num_batches_tracked").item() == 37.0f);
    CHECK(state.at("0.running_var").to_vector() == var);
    CHECK(state.at("0.weight").to_vector() == weight);

    // And it normalises with them: y = (x - mean) / sqrt(var + eps) * weight + bias.
    model.eval();
    const Tensor y = model(Variable(Tensor::ones({1, 2, 1, 1}))).value();
    CHECK(y.to_vector()[0] == doctest::Approx((1.0f - 0.1f) / std::sqrt(2.0f + 1e-5f) * 1.5f + 0.25f));
}
