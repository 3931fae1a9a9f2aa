// Dropout: in training, zeroes each element with probability p and scales the survivors by
// 1/(1-p) (inverted dropout, as PyTorch); the identity in evaluation.
//
// Reproducible: the k-th training forward of a layer draws its mask from the stream
// Rng(seed, "dropout", k), so a run repeated with the same seed drops the same elements.
#pragma once

#include <cstdint>

#include "layers/module.hpp"

namespace proact::layers {

class Dropout : public Module {
public:
    // probability in [0, 1).
    Dropout(float probability, uint64_t seed);

    // Any shape -> the same shape.
    Variable forward(const Variable& input) override;
    std::string type_name() const override { return "Dropout"; }
    std::string describe() const override;

    float probability() const { return probability_; }
    uint64_t seed() const { return seed_; }
    // Training forwards so far = the index of the next mask's stream; settable to resume a run.
    uint64_t calls() const { return calls_; }
    void set_calls(uint64_t calls) { calls_ = calls; }

private:
    float probability_;
    uint64_t seed_;
    uint64_t calls_ = 0;
};

}  // namespace proact::layers
