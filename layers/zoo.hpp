// Model zoo: the networks of the experiments, for 1x28x28 (MNIST-like) and 3x32x32 (CIFAR-like)
// inputs, with parameter names and layouts as their PyTorch definitions have them.
//
//   "lenet5"            features (conv5 pad2, relu, pool, conv5, relu, pool), flatten,
//                       classifier (120, relu, 84, relu, classes): 61,706 parameters on 1x28x28
//   "alexnet"           CIFAR-size AlexNet of the reliable-relu-toolbox: five 3x3 convs (the first
//                       with stride 2), three max pools, classifier dropout-4096-relu-dropout-4096-relu
//   "vgg11", "vgg16"    VGG configurations A and D (3x3 convs, pad 1, max pools), "_bn" adds batch
//                       norm after each conv; classifier 512-relu-512-relu-classes
//   "resnet20"          CIFAR ResNet-20 (3 stages of 3 BasicBlocks, 16/32/64 channels, option-B
//                       shortcuts): 272,474 parameters on 3x32x32 with 10 classes
//
// Flattened sizes come from the input shape. On 28x28 VGG's fifth max pool would shrink the 1x1
// map to nothing, so a max pool whose input is smaller than its window is left out (for 28x28: the
// last one); pools hold no parameters, so the parameter names are the same for both input sizes.
// Every activation is a ReLU child module (see activation.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "layers/sequential.hpp"

namespace proact::layers {

// How a zoo network was built: enough to build it again (checkpoints store this as metadata).
struct ModelInfo {
    std::string name;   // one of model_names()
    Shape input_shape;  // (C, H, W) of one input image
    int num_classes = 0;
    uint64_t init_seed = 0;  // seed of the initial weights
};

// A network from make_model: a Sequential of named stages that remembers its ModelInfo.
class Model : public Sequential {
public:
    explicit Model(ModelInfo info) : info_(std::move(info)) {}
    const ModelInfo& info() const { return info_; }
    std::string type_name() const override { return info_.name; }

private:
    ModelInfo info_;
};

// Builds a network with PyTorch's default initialisation drawn from Rng(seed, "init"), in training
// mode. ValueError for an unknown name (listing the known ones), an input shape that is not
// (C, H, W) with positive sizes or too small for the network, or num_classes < 1.
ModulePtr make_model(const std::string& name, const Shape& input_shape, int num_classes, uint64_t seed);
ModulePtr make_model(const ModelInfo& info);

// The names make_model knows.
std::vector<std::string> model_names();

// The ModelInfo of a network built by make_model; nullptr for any other module.
const ModelInfo* model_info(const Module& model);

// ModelInfo <-> checkpoint metadata: "model" = "lenet5", "input_shape" = "1,28,28",
// "num_classes" = "10", "init_seed" = "42".
std::map<std::string, std::string> model_metadata(const ModelInfo& info);
// FormatError naming `source` and the key when "model", "input_shape" or "num_classes" is missing
// or malformed, or outside the limits below (checkpoints are untrusted and the model is built from
// these entries); "init_seed" is optional (0).
// The model is built before its tensors are compared with the file's, so these bound what a
// small hostile file can make make_model allocate: AlexNet's first linear layer has 4096 x H x W
// weights, its last 4096 x classes (at the limits 0.27 G and 0.41 G parameters).
inline constexpr int64_t kMaxInputSize = 4096;           // each of C, H, W
inline constexpr int64_t kMaxInputPixels = 1 << 16;      // H * W (256 x 256)
inline constexpr int64_t kMaxInputElements = 1 << 20;    // C * H * W
inline constexpr int64_t kMaxClasses = 100000;
inline constexpr size_t kMaxMetadataValueBytes = 256;   // each of the entries above
ModelInfo model_info_from_metadata(const std::map<std::string, std::string>& metadata,
                                   const std::string& source = "metadata");

// "1,28,28" <-> {1, 28, 28}. parse_shape throws FormatError on anything but positive integers.
std::string format_shape(const Shape& shape);
Shape parse_shape(const std::string& text);

}  // namespace proact::layers
