// Faults in computed values (transient faults in activations), as opposed to stored weights: bit
// flips in the output of chosen layers, per image, while the model runs.
//
//   ActivationFaults faults(model, {"features.*"}, sample_shape, format);  // the layers, hooks on them
//   {
//       ActivationTrial scope(faults, model_at_rate, FaultStreamKey{seed, "evaluation", 1e-5}, trial, first_row);
//       logits = model(batch);            // every chosen layer's output faulted as it is computed
//   }                                     // scope.faults(): how many bits were hit in this batch
//
// Sites: the outputs of the modules whose dotted paths match a pattern (shell globs, as for weight
// targets); by default every Conv2d and Linear, the computed values a clipped activation after
// them can bound (faults in a clipped ReLU's own output pass unbounded). A value is faulted as the
// format stores it: encoded, its bit flipped (or forced), decoded; float32 flips the float's bit.
// NaN stays NaN in a fixed-point format (it has no code). The fault count follows the fault model
// over the bits of one image's outputs: at a BER, each bit of a layer's output independently; with
// exactly k, k distinct bits over all chosen layers of the image together.
//
// Reproducible like weight faults: image i's faults in trial t come from the stream
// (seed, purpose, rate, t, "activation <path>") child i (one per layer at a BER) or
// (seed, purpose, rate, t, "activations") child i (exactly k), so they depend on neither the batch
// the image is in nor the thread that runs it. Hooks act only inside an ActivationTrial on the
// same thread; other passes (a fault-free pass, profiling) go through them untouched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "faults/fault_model.hpp"
#include "faults/injector.hpp"
#include "faults/storage_format.hpp"
#include "layers/module.hpp"

namespace proact::faults {

struct ActivationSite {
    std::string path;        // "features.0"
    std::string type;        // "Conv2d"
    int64_t values = 0;      // per image
    int64_t offset = 0;      // of its first value among all sites' values of one image
    layers::Module* module = nullptr;
};

class ActivationFaults {
public:
    // The sites of `model` for `patterns` (default: every Conv2d and Linear), sized by one pass of a
    // zero sample of `sample_shape`. ValueError for a pattern matching no module, no site, or a
    // format whose words need a per-tensor scale (int8: activations have none stored).
    ActivationFaults(layers::Module& model, const std::vector<std::string>& patterns, const core::Shape& sample_shape,
                     const StorageFormat& format);
    ActivationFaults(const ActivationFaults&) = delete;
    ActivationFaults& operator=(const ActivationFaults&) = delete;

    const std::vector<ActivationSite>& sites() const { return sites_; }
    int64_t values_per_image() const { return values_per_image_; }
    // Paths of the sites, comma-separated (what results record).
    std::string describe() const;

private:
    friend class ActivationTrial;
    void fault_output(size_t site, const autograd::Variable& input, const autograd::Variable& output);

    std::vector<ActivationSite> sites_;
    int64_t values_per_image_ = 0;
    StorageFormat format_;
    layers::ForwardHookScope hooks_;
};

// Faults of one trial in the batches run on this thread while it lives (rows from `first_row`,
// the index of the batch's first image in the evaluation set). Not nestable on one thread.
class ActivationTrial {
public:
    ActivationTrial(ActivationFaults& faults, const FaultModel& model, const FaultStreamKey& key, int64_t trial,
                    int64_t first_row);
    ~ActivationTrial();
    ActivationTrial(const ActivationTrial&) = delete;
    ActivationTrial& operator=(const ActivationTrial&) = delete;
    int64_t faults() const { return faults_; }  // bits hit so far

private:
    friend class ActivationFaults;
    ActivationFaults& owner_;
    FaultModel model_;
    FaultStreamKey key_;
    int64_t trial_;
    int64_t first_row_;
    int64_t faults_ = 0;
};

}  // namespace proact::faults
