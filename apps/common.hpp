// What the subcommands share: the options every command takes, data set loading, output files.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/text_file.hpp"
#include "datasets/dataset.hpp"
#include "layers/evaluate.hpp"
#include "proact/training.hpp"

namespace proact::apps {

struct CommonOptions {
    uint64_t seed = 0;
    int threads = 0;          // 0: all cores
    std::string data_dir;     // empty: the data set's default location
    bool quiet = false;       // no progress bars
};

// Adds --seed, --threads, --data-dir, --quiet to a subcommand.
void add_common_options(CLI::App& command, CommonOptions& options);
// Applies threads and quiet; call first in every command's callback.
void apply_common_options(const CommonOptions& options);

// Adds the training flags (--epochs, --batch-size, --optimizer, --lr, ...) bound to `options`.
void add_train_options(CLI::App& command, method::TrainOptions& options);

// Loads `split` of the named data set, printing what was loaded.
datasets::Dataset load_split(const std::string& dataset, const std::string& split, const CommonOptions& options,
                             const core::Shape& image_shape = {3, 32, 32});

// Writes the per-epoch log as CSV (header + rows), atomically.
void write_epoch_csv(const std::string& path, const std::vector<method::EpochLog>& log);

// Writes `text` to `path` atomically (core/text_file.hpp).
using core::write_text_file;

// Human-readable accuracy line and confusion matrix.
std::string format_confusion(const layers::EvalResult& result, const std::vector<std::string>& class_names);
// The evaluation as JSON (accuracy, loss, confusion matrix, class names).
std::string eval_json(const layers::EvalResult& result, const std::vector<std::string>& class_names,
                      const std::map<std::string, std::string>& context);

}  // namespace proact::apps
