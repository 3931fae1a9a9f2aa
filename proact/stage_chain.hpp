// A model as a chain of stages, for training one clipped layer on cached inputs: Sequential
// containers expanded recursively, any other module (a residual block) one stage. The input of the
// stage holding the visited layer is what the frozen prefix computes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.hpp"

namespace proact::method {

struct Stage {
    std::string path;
    layers::Module* module = nullptr;
};

class StageChain {
public:
    explicit StageChain(layers::Module& model);

    size_t size() const { return stages_.size(); }
    // The stage that is or contains the module at `path`. ValueError if none does.
    size_t stage_of(const std::string& path) const;
    // Stages [from, to) applied to x.
    autograd::Variable run(size_t from, size_t to, autograd::Variable x) const;
    // The inputs of each of `stages` (ascending, > 0) for every row of `images` (N, ...), from one
    // pass in batches without a graph: (N, ...) each.
    std::vector<core::Tensor> stage_inputs(const std::vector<size_t>& stages, const core::Tensor& images,
                                           int64_t batch_size) const;
    // The shape of one sample's input to `stage`, from a one-sample pass of `sample` (1, ...).
    core::Shape input_shape_of(size_t stage, const core::Tensor& sample) const;

private:
    std::vector<Stage> stages_;
};

}  // namespace proact::method
