// Where a training run stands after an epoch, in a file: what the next epoch depends on besides
// the data and the options, so that an interrupted run continues to the same final bits.
//
//   train::ResumeOptions resume{.state_path = "model.safetensors.partial", .resume = true, .key = settings};
//   train::train_classifier(*model, train, &validation, options, {}, resume);
//
// The state is: the weights and buffers (batch-norm statistics), the optimizer's per-parameter
// state (step count, SGD momentum, Adam moments), every Dropout's count of training forwards (the
// index of its next mask's stream) and the epoch logs so far. Nothing else carries over between
// epochs: the DataLoader's order and augmentation of epoch e are keyed by (seed, e), the learning
// rate of epoch e comes from the schedule. The file is a safetensors file written atomically.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "layers/module.hpp"
#include "optim/optimizer.hpp"

namespace proact::train {

struct EpochLog;

struct ResumeOptions {
    std::string state_path;                   // empty: no state is written or read
    bool resume = false;                      // continue from state_path when the file exists
    std::map<std::string, std::string> key;   // the caller's settings (model, data); must match
};

// Writes the state after `history.size()` epochs, atomically. `key` is stored with it.
void save_training_state(const std::string& path, const std::map<std::string, std::string>& key,
                         layers::Module& model, const optim::Optimizer& optimizer, const std::vector<EpochLog>& history);

// Reads a state written by save_training_state into `model` and `optimizer` (built as the
// interrupted run built them) and returns its epoch logs; their count is the epochs done.
// ValueError naming the file and the first setting whose value differs from `key`; FormatError
// when the file is not a training state or is damaged; nothing is modified then.
std::vector<EpochLog> load_training_state(const std::string& path, const std::map<std::string, std::string>& key,
                                          layers::Module& model, optim::Optimizer& optimizer);

}  // namespace proact::train
