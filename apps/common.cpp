#include "apps/common.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <limits>
#include <optional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.hpp"
#include "core/file_io.hpp"
#include "core/format.hpp"
#include "core/progress.hpp"
#include "core/threads.hpp"
#include "datasets/registry.hpp"
#include "faults/campaign_options.hpp"
#include "faults/storage_format.hpp"
#include "optim/factory.hpp"

namespace proact::apps {

namespace {

// `text` as a finite double, consumed whole; nullopt otherwise ("nan", "inf", "1e999", "2x").
std::optional<double> finite_number(const std::string& text) {
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(value))
        return std::nullopt;
    return value;
}

CLI::Validator number_check(bool zero_allowed) {
    const std::string expected = zero_allowed ? "a number >= 0" : "a number > 0";
    return CLI::Validator(
        [zero_allowed, expected](std::string& text) -> std::string {
            const std::optional<double> value = finite_number(text);
            if (value && (zero_allowed ? *value >= 0 : *value > 0)) return "";
            return "expected " + expected + ", got '" + text + "'";
        },
        zero_allowed ? "NONNEGATIVE" : "POSITIVE");
}

std::string plain(double value) {
    std::ostringstream out;
    out << std::setprecision(15) << value;
    return out.str();
}

// A whole number from min to max (max may exceed int64: the seed's range), in plain decimal.
CLI::Validator whole_check(int64_t min, uint64_t max) {
    const std::string range = std::to_string(min) + " to " + std::to_string(max);
    return CLI::Validator(
        [min, max, range](std::string& text) -> std::string {
            const bool negative = !text.empty() && text[0] == '-';
            const char* digits = text.c_str() + (negative ? 1 : 0);
            const char* end = text.c_str() + text.size();
            const bool all_digits = digits != end && std::all_of(digits, end, [](char c) { return c >= '0' && c <= '9'; });
            const std::string expected = "expected a whole number from " + range + ", got '" + text + "'";
            if (!all_digits) return expected;
            if (digits[0] == '0' && end - digits > 1) return expected + " (write it in decimal without leading zeros)";
            uint64_t magnitude = 0;
            const auto [stop, error] = std::from_chars(digits, end, magnitude);
            if (error != std::errc() || stop != end) return expected;  // past 2^64 - 1
            if (negative) {
                // -magnitude >= min (max is never negative here); "-0" is not plain decimal
                const bool in_range = magnitude > 0 && min < 0 && magnitude <= uint64_t(-(min + 1)) + 1;
                return in_range ? "" : expected;
            }
            return magnitude <= max && (min <= 0 || magnitude >= uint64_t(min)) ? "" : expected;
        },
        std::to_string(min) + ".." + std::to_string(max));
}

std::vector<std::string>& noted_requests() {
    static std::vector<std::string> requests;
    return requests;
}

}  // namespace

CLI::Validator non_negative_number() { return number_check(true); }
CLI::Validator positive_number() { return number_check(false); }

CLI::Validator number_in(double min, double max) {
    const std::string range = plain(min) + " to " + plain(max);
    return CLI::Validator(
        [min, max, range](std::string& text) -> std::string {
            const std::optional<double> value = finite_number(text);
            if (value && *value >= min && *value <= max) return "";
            return "expected a number from " + range + ", got '" + text + "'";
        },
        "[" + plain(min) + ", " + plain(max) + "]");
}

CLI::Validator parsed_by(const std::function<void(const std::string&)>& parse, const std::string& name) {
    return CLI::Validator(
        [parse](std::string& text) -> std::string {
            try {
                parse(text);
            } catch (const core::Error& error) {
                return error.what();
            }
            return "";
        },
        name);
}

CLI::Validator storage_format_flag() {
    return parsed_by([](const std::string& text) { (void)faults::StorageFormat::parse(text); }, "FORMAT");
}

CLI::Validator ber_list_flag() {
    return parsed_by([](const std::string& text) { (void)faults::parse_ber_list(text); }, "BERS");
}

CLI::Validator whole_number(int64_t min, int64_t max) { return whole_check(min, uint64_t(max)); }
CLI::Validator seed_number() { return whole_check(0, std::numeric_limits<uint64_t>::max()); }

std::string byte_text(double bytes) {
    const char* units[] = {"bytes", "kB", "MB", "GB", "TB", "PB"};
    int unit = 0;
    while (bytes >= 1000.0 && unit < 5) {
        bytes /= 1000.0;
        ++unit;
    }
    char text[48];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, units[unit]);
    return text;
}

void note_memory_request(const std::string& flag, const std::string& what, double bytes) {
    noted_requests().push_back(flag + ": " + what + (bytes >= 0 ? ", " + byte_text(bytes) : ""));
}

std::string memory_requests() { return name_list(noted_requests(), "; "); }

void add_fault_site_options(CLI::App& command, FaultSiteFlags& flags) {
    command.add_option("--site", flags.site,
                       "Where faults strike: weights (stored words) | activations (computed outputs of "
                       "--activation-layers, per image) | both")
        ->check(CLI::IsMember({"weights", "activations", "both"}))
        ->capture_default_str();
    command.add_option("--activation-layers", flags.activation_layers,
                       "Layers whose outputs are faulted with --site activations|both, by glob on the module path "
                       "(repeatable); default: every Conv2d and Linear");
}

void add_common_options(CLI::App& command, CommonOptions& options) {
    command.add_option("--seed", options.seed, "Seed for every random choice (init, shuffling, dropout, faults)")
        ->check(seed_number())
        ->capture_default_str();
    command.add_option("--threads", options.threads, "Threads for kernels and BLAS (0: all cores)")
        ->check(whole_number(0, kMaxThreads))
        ->capture_default_str();
    command.add_option("--data-dir", options.data_dir,
                       "Folder holding the data set's files (default: the data set's standard location)");
    command.add_flag("--quiet", options.quiet, "No progress bars");
}

void apply_common_options(const CommonOptions& options) {
    core::set_num_threads(options.threads);
    core::ProgressBar::set_enabled(!options.quiet);
}

void add_train_options(CLI::App& command, train::TrainOptions& options) {
    command.add_option("--epochs", options.epochs, "Training epochs")->check(whole_number(0, kMaxEpochs))->capture_default_str();
    command.add_option("--batch-size", options.batch_size, "Training batch size")
        ->check(whole_number(1, kMaxBatchSize))
        ->capture_default_str();
    command.add_option("--optimizer", options.optimizer, name_list(optim::optimizer_names(), " | "))
        ->check(CLI::IsMember(optim::optimizer_names()))
        ->capture_default_str();
    command.add_option("--lr", options.lr, "Learning rate")->check(positive_number())->capture_default_str();
    command.add_option("--momentum", options.momentum, "SGD momentum")->check(number_in(0.0, 1.0))->capture_default_str();
    command.add_flag("--nesterov", options.nesterov, "Nesterov momentum (SGD)");
    command.add_option("--weight-decay", options.weight_decay, "Weight decay")->check(non_negative_number())->capture_default_str();
    command.add_option("--schedule", options.schedule,
                       "Learning-rate schedule: " + name_list(optim::schedule_names(), " | "))
        ->check(CLI::IsMember(optim::schedule_names()))
        ->capture_default_str();
    command.add_option("--warmup-epochs", options.warmup_epochs, "Linear warm-up epochs")->check(whole_number(0, kMaxEpochs));
    command.add_flag("--augment", options.augment, "Random crop with padding and horizontal flips");
}

datasets::Dataset load_split(const std::string& dataset, const std::string& split, const CommonOptions& options,
                             const core::Shape& image_shape) {
    datasets::Dataset data = datasets::load_dataset(dataset, split, options.data_dir, image_shape);
    if (!options.quiet)
        std::fprintf(stderr, "loaded %s %s: %lld samples of %s, %d classes\n", dataset.c_str(), split.c_str(),
                     static_cast<long long>(data.size()), core::shape_str(data.sample_shape()).c_str(),
                     data.num_classes);
    return data;
}

void write_text_file(const std::string& path, const std::string& text) { core::write_file_atomically(path, text); }

std::string name_list(const std::vector<std::string>& names, const std::string& separator) {
    std::string joined;
    for (const std::string& name : names) joined += (joined.empty() ? "" : separator) + name;
    return joined;
}

std::string ber_list_text(const std::vector<double>& bers) {
    std::string text;
    for (double ber : bers) text += (text.empty() ? "" : ",") + core::compact(ber);
    return text;
}

void write_epoch_csv(const std::string& path, const std::vector<train::EpochLog>& log) {
    std::ostringstream csv;
    csv << "epoch,lr,train_loss,train_accuracy,validation_loss,validation_accuracy,seconds,images_per_second\n";
    csv << std::setprecision(6);
    for (const train::EpochLog& e : log)
        csv << e.epoch << ',' << e.lr << ',' << e.train_loss << ',' << e.train_accuracy << ',' << e.validation_loss
            << ',' << e.validation_accuracy << ',' << e.seconds << ',' << e.images_per_second << '\n';
    write_text_file(path, csv.str());
}

std::string format_confusion(const layers::EvalResult& result, const std::vector<std::string>& class_names) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(2);
    out << "accuracy " << 100.0 * result.accuracy() << "% (" << result.correct << "/" << result.total
        << "), mean cross-entropy " << std::setprecision(4) << result.loss << "\n";
    const int classes = result.num_classes;
    out << "confusion matrix (rows: true class, columns: predicted)\n";
    size_t name_width = 5;
    for (int k = 0; k < classes; ++k)
        name_width = std::max(name_width, k < static_cast<int>(class_names.size()) ? class_names[k].size() : size_t(2));
    out << std::setw(static_cast<int>(name_width)) << "" << " ";
    for (int k = 0; k < classes; ++k) out << std::setw(6) << k;
    out << "  recall\n";
    for (int t = 0; t < classes; ++t) {
        const std::string name = t < static_cast<int>(class_names.size()) ? class_names[t] : std::to_string(t);
        out << std::setw(static_cast<int>(name_width)) << name << " ";
        int64_t row_total = 0;
        for (int p = 0; p < classes; ++p) {
            const int64_t count = result.confusion[static_cast<size_t>(t) * classes + p];
            row_total += count;
            out << std::setw(6) << count;
        }
        const int64_t hits = result.confusion[static_cast<size_t>(t) * classes + t];
        out << "  " << std::setw(5) << std::setprecision(1)
            << (row_total ? 100.0 * double(hits) / double(row_total) : 0.0) << "%\n";
    }
    return out.str();
}

std::string eval_json(const layers::EvalResult& result, const std::vector<std::string>& class_names,
                      const std::map<std::string, std::string>& context) {
    nlohmann::json json;
    for (const auto& [key, value] : context) json[key] = value;
    json["accuracy"] = result.accuracy();
    json["correct"] = result.correct;
    json["total"] = result.total;
    json["loss"] = result.loss;
    json["class_names"] = class_names;
    nlohmann::json matrix = nlohmann::json::array();
    for (int t = 0; t < result.num_classes; ++t) {
        nlohmann::json row = nlohmann::json::array();
        for (int p = 0; p < result.num_classes; ++p) row.push_back(result.confusion[static_cast<size_t>(t) * result.num_classes + p]);
        matrix.push_back(row);
    }
    json["confusion"] = matrix;
    return json.dump(2) + "\n";
}

}  // namespace proact::apps
