#include "layers/zoo.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>

#include "core/rng.hpp"
#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/dropout.hpp"
#include "layers/linear.hpp"
#include "layers/pooling.hpp"
#include "layers/resnet_block.hpp"

namespace proact::layers {

using core::fail;

namespace {

// Appends layers to a Sequential of features while tracking the feature map's shape (C, H, W).
class FeatureStack {
public:
    FeatureStack(Sequential& stack, const ModelInfo& info, core::Rng& rng)
        : stack_(stack), info_(info), rng_(rng), channels_(info.input_shape[0]), height_(info.input_shape[1]),
          width_(info.input_shape[2]) {}

    void conv(int64_t out_channels, int64_t kernel, int64_t stride = 1, int64_t padding = 0) {
        auto layer = stack_.add(std::make_shared<Conv2d>(channels_, out_channels, kernel, rng_, stride, padding));
        channels_ = out_channels;
        height_ = layer->output_size(height_);
        width_ = layer->output_size(width_);
        check_not_vanished();
    }
    void batch_norm() { stack_.add(std::make_shared<BatchNorm2d>(channels_)); }
    void relu() { stack_.add(std::make_shared<ReLU>()); }
    // optional: leave the pool out if the map is smaller than the window instead of failing.
    void max_pool(int64_t kernel, bool optional = false) {
        if (optional && (height_ < kernel || width_ < kernel)) return;
        auto layer = stack_.add(std::make_shared<MaxPool2d>(kernel));
        height_ = layer->output_size(height_);
        width_ = layer->output_size(width_);
        check_not_vanished();
    }
    int64_t flat_size() const { return channels_ * height_ * width_; }

private:
    void check_not_vanished() const {
        if (height_ <= 0 || width_ <= 0)
            fail<core::ValueError>(info_.name, ": input shape ", format_shape(info_.input_shape),
                                   " is too small, the feature map vanishes at features.", stack_.size() - 1);
    }

    Sequential& stack_;
    const ModelInfo& info_;
    core::Rng& rng_;
    int64_t channels_, height_, width_;
};

ModulePtr build_lenet5(const ModelInfo& info, core::Rng& rng) {
    auto model = std::make_shared<Model>(info);
    auto features = model->add("features", std::make_shared<Sequential>());
    FeatureStack stack(*features, info, rng);
    stack.conv(6, 5, 1, 2);
    stack.relu();
    stack.max_pool(2);
    stack.conv(16, 5);
    stack.relu();
    stack.max_pool(2);
    model->add("flatten", std::make_shared<Flatten>());
    auto classifier = model->add("classifier", std::make_shared<Sequential>());
    classifier->add(std::make_shared<Linear>(stack.flat_size(), 120, rng));  // 16*5*5 on 28x28, 16*6*6 on 32x32
    classifier->add(std::make_shared<ReLU>());
    classifier->add(std::make_shared<Linear>(120, 84, rng));
    classifier->add(std::make_shared<ReLU>());
    classifier->add(std::make_shared<Linear>(84, info.num_classes, rng));
    return model;
}

ModulePtr build_alexnet(const ModelInfo& info, core::Rng& rng) {
    auto model = std::make_shared<Model>(info);
    auto features = model->add("features", std::make_shared<Sequential>());
    FeatureStack stack(*features, info, rng);
    stack.conv(64, 3, 2, 1);
    stack.relu();
    stack.max_pool(2);
    stack.conv(192, 3, 1, 1);
    stack.relu();
    stack.max_pool(2);
    stack.conv(384, 3, 1, 1);
    stack.relu();
    stack.conv(256, 3, 1, 1);
    stack.relu();
    stack.conv(256, 3, 1, 1);
    stack.relu();
    stack.max_pool(2);
    model->add("flatten", std::make_shared<Flatten>());
    // Each dropout layer gets its own seed, so their masks are unrelated.
    auto dropout_seed = [&info](uint64_t layer) { return core::Rng(info.init_seed, "dropout-layer", layer).next_u64(); };
    auto classifier = model->add("classifier", std::make_shared<Sequential>());
    classifier->add(std::make_shared<Dropout>(0.5f, dropout_seed(0)));
    classifier->add(std::make_shared<Linear>(stack.flat_size(), 4096, rng));  // 256*2*2 on 32x32, 256*1*1 on 28x28
    classifier->add(std::make_shared<ReLU>());
    classifier->add(std::make_shared<Dropout>(0.5f, dropout_seed(1)));
    classifier->add(std::make_shared<Linear>(4096, 4096, rng));
    classifier->add(std::make_shared<ReLU>());
    classifier->add(std::make_shared<Linear>(4096, info.num_classes, rng));
    return model;
}

// Output channels of the 3x3 convs, 0 for a 2x2 max pool (torchvision's cfgs "A" and "D").
const std::vector<int64_t> kVgg11Config = {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0};
const std::vector<int64_t> kVgg16Config = {64,  64,  0,   128, 128, 0,   256, 256, 256,
                                           0,   512, 512, 512, 0,   512, 512, 512, 0};

ModulePtr build_vgg(const ModelInfo& info, const std::vector<int64_t>& config, bool batch_norm, core::Rng& rng) {
    auto model = std::make_shared<Model>(info);
    auto features = model->add("features", std::make_shared<Sequential>());
    FeatureStack stack(*features, info, rng);
    for (int64_t channels : config) {
        if (channels == 0) {
            stack.max_pool(2, /*optional=*/true);
            continue;
        }
        stack.conv(channels, 3, 1, 1);
        if (batch_norm) stack.batch_norm();
        stack.relu();
    }
    model->add("flatten", std::make_shared<Flatten>());
    auto classifier = model->add("classifier", std::make_shared<Sequential>());
    classifier->add(std::make_shared<Linear>(stack.flat_size(), 512, rng));  // 512*1*1 on 32x32 and 28x28
    classifier->add(std::make_shared<ReLU>());
    classifier->add(std::make_shared<Linear>(512, 512, rng));
    classifier->add(std::make_shared<ReLU>());
    classifier->add(std::make_shared<Linear>(512, info.num_classes, rng));
    return model;
}

// Names as in the common PyTorch CIFAR ResNet (conv1, bn1, layer1..3, linear).
ModulePtr build_resnet20(const ModelInfo& info, core::Rng& rng) {
    auto model = std::make_shared<Model>(info);
    model->add("conv1", std::make_shared<Conv2d>(info.input_shape[0], 16, 3, rng, 1, 1, false));
    model->add("bn1", std::make_shared<BatchNorm2d>(16));
    model->add("relu", std::make_shared<ReLU>());
    int64_t in_channels = 16;
    const int64_t stage_channels[3] = {16, 32, 64};
    for (int stage = 0; stage < 3; ++stage) {
        auto blocks = model->add("layer" + std::to_string(stage + 1), std::make_shared<Sequential>());
        for (int block = 0; block < 3; ++block) {
            const int64_t stride = stage > 0 && block == 0 ? 2 : 1;
            blocks->add(std::make_shared<BasicBlock>(in_channels, stage_channels[stage], stride, rng));
            in_channels = stage_channels[stage];
        }
    }
    model->add("avgpool", std::make_shared<GlobalAvgPool>());
    model->add("linear", std::make_shared<Linear>(64, info.num_classes, rng));
    return model;
}

std::string known_names() {
    std::string list;
    for (const std::string& name : model_names()) {
        if (!list.empty()) list += ", ";
        list += name;
    }
    return list;
}

}  // namespace

std::vector<std::string> model_names() {
    return {"lenet5", "alexnet", "vgg11", "vgg11_bn", "vgg16", "vgg16_bn", "resnet20"};
}

ModulePtr make_model(const std::string& name, const Shape& input_shape, int num_classes, uint64_t seed) {
    return make_model(ModelInfo{name, input_shape, num_classes, seed});
}

ModulePtr make_model(const ModelInfo& info) {
    bool known = false;
    for (const std::string& name : model_names()) known = known || name == info.name;
    if (!known) fail<core::ValueError>("make_model: unknown model '", info.name, "' (known: ", known_names(), ")");
    if (info.input_shape.size() != 3)
        fail<core::ValueError>("make_model: input shape must be (channels, height, width), got ",
                               core::shape_str(info.input_shape));
    for (int64_t size : info.input_shape)
        if (size <= 0)
            fail<core::ValueError>("make_model: input shape must have positive sizes, got ",
                                   core::shape_str(info.input_shape));
    if (info.num_classes < 1) fail<core::ValueError>("make_model: num_classes must be >= 1, got ", info.num_classes);

    core::Rng rng(info.init_seed, "init");
    if (info.name == "lenet5") return build_lenet5(info, rng);
    if (info.name == "alexnet") return build_alexnet(info, rng);
    if (info.name == "vgg11") return build_vgg(info, kVgg11Config, false, rng);
    if (info.name == "vgg11_bn") return build_vgg(info, kVgg11Config, true, rng);
    if (info.name == "vgg16") return build_vgg(info, kVgg16Config, false, rng);
    if (info.name == "vgg16_bn") return build_vgg(info, kVgg16Config, true, rng);
    return build_resnet20(info, rng);
}

const ModelInfo* model_info(const Module& model) {
    const auto* built = dynamic_cast<const Model*>(&model);
    return built ? &built->info() : nullptr;
}

std::string format_shape(const Shape& shape) {
    std::string text;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i > 0) text += ',';
        text += std::to_string(shape[i]);
    }
    return text;
}

namespace {

// A whole-string decimal integer in [1, max], else nullopt-like false.
bool parse_positive(const std::string& text, int64_t max, int64_t& value) {
    const char* begin = text.data();
    const char* end = begin + text.size();
    const auto [stop, error] = std::from_chars(begin, end, value);
    return error == std::errc() && stop == end && !text.empty() && value >= 1 && value <= max;
}

}  // namespace

Shape parse_shape(const std::string& text) {
    Shape shape;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        const std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        int64_t size = 0;
        if (!parse_positive(part, int64_t(1) << 40, size))
            fail<core::FormatError>("parse_shape: '", text, "' is not a comma-separated list of positive integers");
        shape.push_back(size);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return shape;
}

std::map<std::string, std::string> model_metadata(const ModelInfo& info) {
    return {{"model", info.name},
            {"input_shape", format_shape(info.input_shape)},
            {"num_classes", std::to_string(info.num_classes)},
            {"init_seed", std::to_string(info.init_seed)}};
}

ModelInfo model_info_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& source) {
    auto required = [&](const char* key) -> const std::string& {
        auto it = metadata.find(key);
        if (it == metadata.end())
            fail<core::FormatError>(source, ": metadata has no '", key, "' entry (needed to rebuild the model)");
        if (it->second.size() > kMaxMetadataValueBytes)
            fail<core::FormatError>(source, ": metadata '", key, "' is '", core::excerpt(it->second), "', longer than ",
                                    kMaxMetadataValueBytes, " bytes");
        return it->second;
    };
    ModelInfo info;
    info.name = required("model");
    const std::string& shape_text = required("input_shape");
    const std::string& classes_text = required("num_classes");
    // A checkpoint is untrusted and the model is built from these entries before its tensors are
    // compared with the model's, so they are bounded (zoo.hpp): a claimed 3x100000x100000 input
    // would make make_model allocate terabytes.
    try {
        info.input_shape = parse_shape(shape_text);
    } catch (const core::FormatError&) {
        info.input_shape.clear();
    }
    const bool shape_ok = info.input_shape.size() == 3 &&
                          std::all_of(info.input_shape.begin(), info.input_shape.end(),
                                      [](int64_t size) { return size <= kMaxInputSize; }) &&
                          info.input_shape[1] * info.input_shape[2] <= kMaxInputPixels &&
                          core::numel_of(info.input_shape) <= kMaxInputElements;
    if (!shape_ok)
        fail<core::FormatError>(source, ": metadata 'input_shape' is '", core::excerpt(shape_text),
                                "', expected channels,height,width such as 1,28,28, each in 1..", kMaxInputSize,
                                ", at most ", kMaxInputPixels, " pixels (height x width) and ", kMaxInputElements,
                                " values in all");
    int64_t classes = 0;
    if (!parse_positive(classes_text, kMaxClasses, classes))
        fail<core::FormatError>(source, ": metadata 'num_classes' is '", core::excerpt(classes_text),
                                "', expected an integer in 1..", kMaxClasses);
    info.num_classes = static_cast<int>(classes);
    if (auto it = metadata.find("init_seed"); it != metadata.end()) {
        const auto [stop, error] = std::from_chars(it->second.data(), it->second.data() + it->second.size(),
                                                   info.init_seed);
        if (error != std::errc() || stop != it->second.data() + it->second.size() || it->second.empty())
            fail<core::FormatError>(source, ": metadata 'init_seed' is '", core::excerpt(it->second),
                                    "', expected an unsigned integer");
    }
    return info;
}

}  // namespace proact::layers
