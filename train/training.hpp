// Supervised training of a classifier: the loop every experiment starts from.
//
//   TrainOptions options;  options.epochs = 10;  options.seed = 0;
//   auto log = train_classifier(*model, train_set, &validation_set, options,
//                               [](const EpochLog& e) { /* append a CSV row */ });
//
// Per epoch: the DataLoader's seeded order (and augmentation), forward, cross-entropy, backward,
// optimizer step, a progress bar with loss, accuracy, images/s and ETA; then validation. A loss
// that is not finite stops training with core::NumericError naming the epoch and batch: nothing the
// caller saved before is touched.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "layers/module.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"
#include "train/training_state.hpp"

namespace proact::train {

struct TrainOptions {
    int epochs = 10;
    int64_t batch_size = 64;
    std::string optimizer = "sgd";    // one of optim::optimizer_names()
    float lr = 0.05f;
    float momentum = 0.9f;            // sgd
    bool nesterov = false;            // sgd
    float weight_decay = 0.0f;
    std::string schedule = "cosine";  // one of optim::schedule_names() (cosine: 90.6% on Fashion-MNIST in 10 epochs vs 88.8% constant)
    int step_size = 5;                // step schedule: epochs between decays
    float gamma = 0.1f;               // step schedule: decay factor
    int warmup_epochs = 0;            // linear warm-up before the schedule
    bool augment = false;             // random crop (padding 4 for 32x32, 2 for 28x28) + horizontal flip
    uint64_t seed = 0;
    int64_t eval_batch_size = 1000;
    int64_t max_batches_per_epoch = -1;  // > 0: an epoch ends after this many batches (benchmarks, smoke runs)
    bool progress = true;
};

struct EpochLog {
    int epoch = 0;                    // 1-based
    float lr = 0.0f;
    double train_loss = 0.0;          // mean over the epoch's batches, weighted by batch size
    double train_accuracy = 0.0;      // on the training batches as seen (train mode)
    double validation_loss = 0.0;     // NaN without a validation set
    double validation_accuracy = 0.0; // NaN without a validation set
    double seconds = 0.0;             // training part of the epoch only
    double images_per_second = 0.0;
};

// The optimizer named in options over the model's parameters (optim::make_optimizer). ValueError
// for an unknown name.
std::unique_ptr<optim::Optimizer> make_optimizer(layers::Module& model, const TrainOptions& options);
// The per-epoch schedule named in options, with its warm-up (optim::make_schedule).
std::shared_ptr<const optim::Schedule> make_schedule(const TrainOptions& options);

// Trains `model` in place. validation may be null. on_epoch runs after each epoch (logging,
// checkpointing). Returns one log entry per epoch.
//
// With resume.state_path set, the state after each epoch is written there (training_state.hpp)
// before on_epoch runs; with resume.resume and that file present, the run continues after the
// epochs it records (on_epoch runs for the new ones only; the returned logs hold all of them),
// and ends with the bits an uninterrupted run gives. The state must have been written with the
// same resume.key and the same options (options_key): ValueError naming the first that differs.
std::vector<EpochLog> train_classifier(layers::Module& model, const datasets::Dataset& train,
                                       const datasets::Dataset* validation, const TrainOptions& options,
                                       const std::function<void(const EpochLog&)>& on_epoch = {},
                                       const ResumeOptions& resume = {});

// Every option the trained bits depend on, as text (the float ones exactly): what a resumed run
// must share with the run it continues.
std::map<std::string, std::string> options_key(const TrainOptions& options);

}  // namespace proact::train
