// What the subcommands share: the options every command takes, data set loading, output files.
// pipeline.hpp holds the steps several commands run (model file, evaluation, campaign set-up).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "datasets/dataset.hpp"
#include "layers/evaluate.hpp"
#include "train/training.hpp"

namespace proact::apps {

struct CommonOptions {
    uint64_t seed = 0;
    int threads = 0;          // 0: all cores
    std::string data_dir;     // empty: the data set's default location
    bool quiet = false;       // no progress bars
};

// Flag checks whose message says what was expected and what was given, in one line. CLI11 runs
// them on the text before converting it, and its own conversion is lax (strtoull with base 0:
// "010" is 8, "0x10" is 16, "-1" wraps to 2^64 - 1 in an unsigned flag, a number past 2^64 is
// clamped), so every integer flag takes whole_number() and every real one a check below.
CLI::Validator non_negative_number();  // a finite number >= 0
CLI::Validator positive_number();      // a finite number > 0
CLI::Validator number_in(double min, double max);  // a finite number in [min, max] (NaN never is)
// A whole number in plain decimal (no sign but a leading '-', no leading zeros, no spaces) from
// min to max: "expected a whole number from 1 to 1000000, got '010'".
CLI::Validator whole_number(int64_t min, int64_t max);
CLI::Validator seed_number();  // a whole number from 0 to 18446744073709551615 (uint64)
// A flag whose text one of the library's parsers reads (a storage format, a BER list, a shard):
// its error (core::Error) becomes the flag's, at parse time, so that a bad value is a command-line
// error (exit code 2) like any other.
CLI::Validator parsed_by(const std::function<void(const std::string&)>& parse, const std::string& name);
// The ones several commands share.
CLI::Validator storage_format_flag();  // faults::StorageFormat::parse
CLI::Validator ber_list_flag();        // faults::parse_ber_list

// Bounds a typo cannot blow past: a count beyond these is a slip of the keyboard, not a plan.
inline constexpr int64_t kMaxTrials = 1'000'000;
inline constexpr int64_t kMaxEpochs = 100'000;
inline constexpr int64_t kMaxThreads = 1024;
inline constexpr int64_t kMaxBatchSize = int64_t(1) << 20;  // 1048576 images in one batch
inline constexpr int64_t kMaxImages = int64_t(1) << 40;     // image counts (--train-images, ...)

// The big allocations a command sizes from its flags ("--batch-size 100000: batches of [1, 28, 28]
// images, 313.6 MB each"), noted before it makes them: when memory runs out, the command's error
// message names them (apps/proact.cpp).
void note_memory_request(const std::string& flag, const std::string& what, double bytes);  // bytes < 0: unknown
std::string memory_requests();  // "; " between them, "" when none
std::string byte_text(double bytes);  // "313.6 MB"

// Adds --seed, --threads, --data-dir, --quiet to a subcommand.
void add_common_options(CLI::App& command, CommonOptions& options);

// Where a campaign's faults strike (faults::CampaignOptions::site, activation_layers).
struct FaultSiteFlags {
    std::string site = "weights";
    std::vector<std::string> activation_layers;
};
// Adds --site and --activation-layers (inject, reproduce, tune).
void add_fault_site_options(CLI::App& command, FaultSiteFlags& flags);
// Applies threads and quiet; call first in every command's callback.
void apply_common_options(const CommonOptions& options);

// Adds the training flags (--epochs, --batch-size, --optimizer, --lr, ...) bound to `options`.
void add_train_options(CLI::App& command, train::TrainOptions& options);

// Loads `split` of the named data set, printing what was loaded.
datasets::Dataset load_split(const std::string& dataset, const std::string& split, const CommonOptions& options,
                             const core::Shape& image_shape = {3, 32, 32});

// Writes the per-epoch log as CSV (header + rows), atomically.
void write_epoch_csv(const std::string& path, const std::vector<train::EpochLog>& log);

// Writes `text` to `path` atomically (core::write_file_atomically). IoError on failure.
void write_text_file(const std::string& path, const std::string& text);

// "a, b, c" (or with another separator): a registry's names as a help text lists them.
std::string name_list(const std::vector<std::string>& names, const std::string& separator = ", ");
// {1e-7, 3e-6} -> "1e-7,3e-6": a BER list as --ber takes it.
std::string ber_list_text(const std::vector<double>& bers);

// Human-readable accuracy line and confusion matrix.
std::string format_confusion(const layers::EvalResult& result, const std::vector<std::string>& class_names);
// The evaluation as JSON (accuracy, loss, confusion matrix, class names).
std::string eval_json(const layers::EvalResult& result, const std::vector<std::string>& class_names,
                      const std::map<std::string, std::string>& context);

}  // namespace proact::apps
