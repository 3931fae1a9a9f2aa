// The steps several commands share, each one call: read a checkpoint once into a model and what
// its metadata says; load a data set the model fits; evaluate and print the confusion matrix;
// quantise the fault targets for a campaign; write an output file and say so.
//
//   const LoadedModel loaded = load_model_file(command.model_file);
//   const datasets::Dataset data = load_split_for(loaded, "eval", command.dataset, command.split, common);
//   const layers::EvalResult result = evaluate_and_print(*loaded.model, data, 1000, title);
//   write_output(command.json_path, eval_json(result, data.class_names, context));
#pragma once

#include <map>
#include <string>
#include <vector>

#include "apps/common.hpp"
#include "datasets/dataset.hpp"
#include "faults/storage_format.hpp"
#include "faults/targets.hpp"
#include "layers/evaluate.hpp"
#include "layers/module.hpp"
#include "train/training.hpp"

namespace proact::apps {

// A checkpoint read once.
struct LoadedModel {
    std::string path;
    layers::ModulePtr model;                      // rebuilt from the metadata, in evaluation mode
    std::map<std::string, std::string> metadata;  // the checkpoint's own and its training settings
    std::string name;                             // metadata "model", else the path
    core::Shape input_shape;                      // metadata "input_shape", else 3x32x32
};

// IoError / FormatError naming the file when it is missing, truncated or not a zoo model.
LoadedModel load_model_file(const std::string& path);

// NumericError naming `command`, the file, each tensor (parameter or buffer) holding NaN or Inf and
// how many, unless there are none: such weights turn every prediction into noise or none, which
// a campaign would report as the effect of its faults. --allow-nonfinite skips the call.
void refuse_non_finite(const LoadedModel& loaded, const std::string& command);

// `split` of the named data set decoded at the model's input shape. ShapeError naming `command`,
// the file and both shapes when the data set's images have another shape.
datasets::Dataset load_split_for(const LoadedModel& loaded, const std::string& command, const std::string& dataset,
                                 const std::string& split, const CommonOptions& options);

// A seeded subset of `images` of `test`'s images (all of them for 0 or at least its size), in their
// original order: the images reproduce --eval-images and vuln --images evaluate on. The stream is
// Rng(seed, "reproduce_eval_subset"), named by the command that used it first.
datasets::Dataset evaluation_subset(const datasets::Dataset& test, int64_t images, uint64_t seed);

// Evaluates `model` on all of `data` and prints `title`, the accuracy line and the confusion matrix.
layers::EvalResult evaluate_and_print(layers::Module& model, const datasets::Dataset& data, int64_t batch_size,
                                      const std::string& title);

// Moves the targets' values onto the grid of `format` (once, before a campaign; int8: each tensor
// with its own scale) and prints what moved; nothing for float32.
void quantise_and_report(std::vector<faults::FaultTarget>& targets, const faults::StorageFormat& format);

// What `proact train` records and every command that trains does: the model built with the seed,
// trained on (train, validation), the checkpoint and the per-epoch CSV written once training is
// done (atomically: a failed or killed run leaves the previous files), the split recorded in the
// metadata (seed, validation_fraction) so that later commands hold out the same images. After
// every epoch the run's state goes to OUT.partial (train/training_state.hpp); with `resume` a run
// continues from there to the checkpoint an uninterrupted run writes, byte for byte.
struct TrainRequest {
    std::string model, dataset;
    double validation_fraction = 0.1;
    int64_t train_images = 0;        // the first N of the training split (0: all); recorded
    train::TrainOptions train;       // seed and progress set from `common`
    CommonOptions common;
    std::string out, log_csv;        // log_csv empty: no CSV
    bool resume = false;             // continue from partial_path(out) when it exists
};
std::map<std::string, std::string> training_metadata(const TrainRequest& request, int epochs_done);
struct TrainedModel {
    layers::ModulePtr model;
    std::vector<train::EpochLog> history;
};
TrainedModel train_and_save(const TrainRequest& request, const datasets::Dataset& full_train);

// The validation split a checkpoint was trained with. A checkpoint of `proact train` records its
// seed and fraction; harden, tune and reproduce hold out exactly those images, whatever --seed
// says. A --val-fraction that disagrees with the record is refused by name; a checkpoint without
// a record (a PyTorch state_dict) takes the flag and the fallback seed.
struct SplitRecord {
    uint64_t seed = 0;
    double fraction = 0.1;
    bool recorded = false;
};
SplitRecord validation_split_of(const std::map<std::string, std::string>& metadata, const std::string& path,
                                double flag_fraction, bool fraction_given, uint64_t fallback_seed);

// Writes `text` to `path` atomically and prints "wrote PATH" (with " (NOTE)" when a note is given).
void write_output(const std::string& path, const std::string& text, const std::string& note = "");

}  // namespace proact::apps
