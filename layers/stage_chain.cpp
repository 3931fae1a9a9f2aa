#include "layers/stage_chain.hpp"

#include <algorithm>
#include <typeinfo>

#include "core/error.hpp"
#include "layers/sequential.hpp"
#include "layers/zoo.hpp"

namespace proact::layers {

namespace {

// Sequential containers are opened up; a subclass that might override forward is one stage
// (layers::Model only adds its ModelInfo).
bool is_plain_sequential(const Module& module) {
    return typeid(module) == typeid(Sequential) || typeid(module) == typeid(Model);
}

void expand(const std::string& path, Module& module, std::vector<Stage>& stages) {
    if (is_plain_sequential(module)) {
        for (const auto& [name, child] : module.children())
            expand(path.empty() ? name : path + "." + name, *child, stages);
        return;
    }
    stages.push_back({path, &module});
}

// `path` is the stage's module or lies below it ("features.3" owns "features.3.conv1", not
// "features.30"); the single stage of an unexpanded model ("") owns everything.
bool owns(const std::string& stage_path, const std::string& path) {
    return stage_path.empty() || path == stage_path ||
           (path.size() > stage_path.size() && path.compare(0, stage_path.size(), stage_path) == 0 &&
            path[stage_path.size()] == '.');
}

}  // namespace

StageChain::StageChain(Module& model) { expand("", model, stages_); }

size_t StageChain::stage_of(const std::string& path) const {
    for (size_t s = 0; s < stages_.size(); ++s)
        if (owns(stages_[s].path, path)) return s;
    core::fail<core::ValueError>("stage chain: no stage holds ", path);
}

Variable StageChain::run(size_t from, size_t to, Variable x) const {
    for (size_t s = from; s < to; ++s) x = (*stages_[s].module)(x);
    return x;
}

std::vector<Tensor> StageChain::stage_inputs(const std::vector<size_t>& stages, const Tensor& images,
                                             int64_t batch_size) const {
    autograd::NoGradGuard no_grad;
    const int64_t count = images.size(0);
    std::vector<Tensor> result(stages.size());
    if (stages.empty()) return result;
    for (int64_t start = 0; start < count; start += batch_size) {
        const int64_t stop = std::min(count, start + batch_size);
        Variable x(images.slice(start, stop));
        size_t at = 0;
        for (size_t i = 0; i < stages.size(); ++i) {
            x = run(at, stages[i], x);
            at = stages[i];
            if (!result[i].defined()) {
                Shape shape = x.shape();
                shape[0] = count;
                result[i] = Tensor::empty(shape);
            }
            result[i].slice(start, stop).copy_(x.value());
        }
    }
    return result;
}

Shape StageChain::input_shape_of(size_t stage, const Tensor& sample) const {
    autograd::NoGradGuard no_grad;
    const Shape shape = run(0, stage, Variable(sample)).shape();
    return Shape(shape.begin() + 1, shape.end());
}

}  // namespace proact::layers
