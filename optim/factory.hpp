// Optimizers and learning-rate schedules by name, as the command line and the training loop name
// them. The name lists are what `--help` prints and what the factories accept.
//
//   auto optimizer = make_optimizer("sgd", model.named_parameters(), {.lr = 0.05f, .momentum = 0.9f});
//   auto schedule = make_schedule("cosine", {.lr = 0.05f, .epochs = 10});
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"

namespace proact::optim {

// What any of the named optimizers takes; each uses the fields that apply to it (momentum and
// nesterov only for sgd) and its own defaults for the rest (Adam's betas and eps).
struct OptimizerSettings {
    float lr = 0.05f;
    float momentum = 0.9f;
    bool nesterov = false;
    float weight_decay = 0.0f;
};

// "sgd", "adam", "adamw".
const std::vector<std::string>& optimizer_names();

// The named optimizer over `params`. ValueError for an unknown name, listing the known ones.
std::unique_ptr<Optimizer> make_optimizer(const std::string& name, NamedParameters params,
                                          const OptimizerSettings& settings);

// What any of the named schedules takes, per epoch.
struct ScheduleSettings {
    float lr = 0.05f;
    int epochs = 10;         // cosine: anneals to 0 over max(1, epochs)
    int step_size = 5;       // step: epochs between decays
    float gamma = 0.1f;      // step: decay factor
    int warmup_epochs = 0;   // > 0: a linear warm-up wraps the schedule
};

// "constant", "step", "cosine".
const std::vector<std::string>& schedule_names();

// The named schedule, wrapped in a linear warm-up when settings ask for one. ValueError for an
// unknown name, listing the known ones.
std::shared_ptr<const Schedule> make_schedule(const std::string& name, const ScheduleSettings& settings);

}  // namespace proact::optim
