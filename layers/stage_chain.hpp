// A model as a chain of stages: Sequential containers (and layers::Model) expanded recursively,
// any other module (a residual block, a subclass that might override forward) one stage. Running
// the stages in order is the model's forward pass, so the input of any stage can be computed once
// and the rest of the model rerun from it.
//
//   layers::StageChain chain(*model);
//   size_t s = chain.stage_of("features.3");             // the stage holding that module
//   Variable logits = chain.run(s, chain.size(), x);      // x: the input of stage s (B, ...)
//
// Two users: the fault campaign (faults/campaign.hpp: a trial reruns from the first stage it
// faulted) and threshold-only training (proact/threshold_training.hpp: the frozen prefix's output
// is cached and only the suffix holding the trained layer is run). Forward hooks of the expanded
// containers themselves are not run; those of the stages are.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "layers/module.hpp"

namespace proact::layers {

struct Stage {
    std::string path;          // "features.3"; "" for a model that is a single stage
    Module* module = nullptr;  // owned by the model
};

class StageChain {
public:
    // The model must outlive the chain; its structure must not change while the chain is used.
    explicit StageChain(Module& model);

    size_t size() const { return stages_.size(); }
    const std::vector<Stage>& stages() const { return stages_; }
    // The stage that is or contains the module at `path`. ValueError if none does.
    size_t stage_of(const std::string& path) const;
    // Stages [from, to) applied to x, through each stage's operator() (its hooks run).
    Variable run(size_t from, size_t to, Variable x) const;
    // The inputs of each of `stages` (ascending, > 0) for every row of `images` (N, ...), from one
    // pass in batches of batch_size rows without a graph: (N, ...) each.
    std::vector<Tensor> stage_inputs(const std::vector<size_t>& stages, const Tensor& images, int64_t batch_size) const;
    // The shape of one sample's input to `stage`, from a one-sample pass of `sample` (1, ...).
    Shape input_shape_of(size_t stage, const Tensor& sample) const;

private:
    std::vector<Stage> stages_;
};

}  // namespace proact::layers
