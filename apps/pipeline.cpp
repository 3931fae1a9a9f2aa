#include "apps/pipeline.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "apps/output_paths.hpp"
#include "core/error.hpp"
#include "core/file_io.hpp"
#include "core/format.hpp"
#include "core/threads.hpp"
#include "core/rng.hpp"
#include "faults/injector.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"
#include "datasets/split.hpp"
#include "train/evaluate.hpp"

namespace proact::apps {

namespace {

std::string metadata_or(const std::map<std::string, std::string>& metadata, const std::string& key,
                        const std::string& fallback) {
    const auto entry = metadata.find(key);
    return entry != metadata.end() ? entry->second : fallback;
}

}  // namespace

datasets::Dataset evaluation_subset(const datasets::Dataset& test, int64_t images, uint64_t seed) {
    if (images <= 0 || images >= test.size()) return test;
    core::Rng rng(seed, "reproduce_eval_subset");
    std::vector<int64_t> rows = datasets::random_permutation(test.size(), rng);
    rows.resize(static_cast<size_t>(images));
    std::sort(rows.begin(), rows.end());
    return test.subset(rows);
}

LoadedModel load_model_file(const std::string& path) {
    layers::Checkpoint checkpoint = layers::load_checkpoint(path);
    LoadedModel loaded;
    loaded.path = path;
    loaded.model = layers::load_model(checkpoint, "'" + path + "'");
    loaded.metadata = std::move(checkpoint.metadata);
    loaded.name = metadata_or(loaded.metadata, "model", path);
    const auto shape_entry = loaded.metadata.find("input_shape");
    loaded.input_shape =
        shape_entry != loaded.metadata.end() ? layers::parse_shape(shape_entry->second) : core::Shape{3, 32, 32};
    return loaded;
}

void refuse_non_finite(const LoadedModel& loaded, const std::string& command) {
    // Our own check over the loaded model until layers::non_finite_tensors(Checkpoint) lands.
    std::vector<std::pair<std::string, core::Tensor>> tensors;
    for (const auto& [name, parameter] : loaded.model->named_parameters()) tensors.emplace_back(name, parameter.value());
    for (const auto& [name, buffer] : loaded.model->named_buffers()) tensors.emplace_back(name, buffer);
    std::string found;
    int64_t bad_tensors = 0, bad_values = 0;
    for (const auto& [name, tensor] : tensors) {
        const core::Tensor values = tensor.contiguous();
        const float* data = values.data();
        int64_t count = 0;
        for (int64_t i = 0; i < values.numel(); ++i) count += !std::isfinite(data[i]);
        if (count == 0) continue;
        bad_values += count;
        if (++bad_tensors <= 5)
            found += (found.empty() ? "" : ", ") + name + " (" + std::to_string(count) + " of " +
                     std::to_string(values.numel()) + ")";
    }
    if (bad_tensors == 0) return;
    if (bad_tensors > 5) found += " and " + std::to_string(bad_tensors - 5) + " more";
    core::fail<core::NumericError>(command, ": ", loaded.path, " holds ", bad_values, " NaN or Inf values in ",
                                   bad_tensors, " tensors: ", found,
                                   "; pass --allow-nonfinite to run it anyway");
}

datasets::Dataset load_split_for(const LoadedModel& loaded, const std::string& command, const std::string& dataset,
                                 const std::string& split, const CommonOptions& options) {
    datasets::Dataset data = load_split(dataset, split, options, loaded.input_shape);
    if (data.sample_shape() != loaded.input_shape)
        core::fail<core::ShapeError>(command, ": ", loaded.path, " expects inputs of shape ",
                                     core::shape_str(loaded.input_shape), ", data set ", dataset, " has ",
                                     core::shape_str(data.sample_shape()));
    return data;
}

layers::EvalResult evaluate_and_print(layers::Module& model, const datasets::Dataset& data, int64_t batch_size,
                                      const std::string& title) {
    const auto start = std::chrono::steady_clock::now();
    const layers::EvalResult result = train::evaluate(model, data, batch_size);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%s\n%s", title.c_str(), format_confusion(result, data.class_names).c_str());
    // Inference alone (the data is loaded before the clock starts), batches of batch_size.
    std::printf("%lld images in %.3f s: %.0f images/s (batch %lld, %d threads)\n", static_cast<long long>(data.size()),
                seconds, seconds > 0 ? double(data.size()) / seconds : 0.0, static_cast<long long>(std::min(batch_size, data.size())),
                core::num_threads());
    return result;
}

void quantise_and_report(std::vector<faults::FaultTarget>& targets, const faults::StorageFormat& format) {
    if (format.is_float32()) return;
    const faults::QuantizeReport report = faults::quantize_targets(targets, format);
    std::printf("quantised %lld values in %zu target tensors to %s: %lld moved onto the grid, %lld saturated, "
                "max rounding error %.3g\n",
                static_cast<long long>(report.values), targets.size(), format.to_string().c_str(),
                static_cast<long long>(report.changed), static_cast<long long>(report.saturated),
                report.max_abs_error);
}

std::map<std::string, std::string> training_metadata(const TrainRequest& request, int epochs_done) {
    std::ostringstream lr, momentum, weight_decay;
    lr << request.train.lr;
    momentum << request.train.momentum;
    weight_decay << request.train.weight_decay;
    return {{"dataset", request.dataset},
            {"epochs", std::to_string(epochs_done)},
            {"train_images", std::to_string(request.train_images)},
            {"batch_size", std::to_string(request.train.batch_size)},
            {"optimizer", request.train.optimizer},
            {"lr", lr.str()},
            {"momentum", momentum.str()},
            {"weight_decay", weight_decay.str()},
            {"schedule", request.train.schedule},
            {"augment", request.train.augment ? "true" : "false"},
            {"seed", std::to_string(request.common.seed)},
            {"validation_fraction", core::shortest(request.validation_fraction)}};  // reads back exactly
}

TrainedModel train_and_save(const TrainRequest& request, const datasets::Dataset& full_train) {
    auto [train_set, validation] = datasets::split(full_train, request.validation_fraction, request.common.seed);
    if (request.train_images > 0 && request.train_images < train_set.size()) {
        std::vector<int64_t> rows(static_cast<size_t>(request.train_images));
        for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
        train_set = train_set.subset(rows);
    }
    layers::ModulePtr model =
        layers::make_model(request.model, full_train.sample_shape(), full_train.num_classes, request.common.seed);
    if (!request.common.quiet)
        std::fprintf(stderr, "model %s: %lld parameters; training on %lld samples, validating on %lld\n",
                     request.model.c_str(), static_cast<long long>(model->parameter_count()),
                     static_cast<long long>(train_set.size()), static_cast<long long>(validation.size()));
    note_memory_request("--batch-size", "batches of " + std::to_string(request.train.batch_size) + " images of " +
                                            core::shape_str(full_train.sample_shape()) + " (inputs alone)",
                        double(request.train.batch_size) * double(core::numel_of(full_train.sample_shape())) * 4.0);
    train::TrainOptions options = request.train;
    options.seed = request.common.seed;
    options.progress = !request.common.quiet;
    // The checkpoint and the log are written once, at the end: a run that fails or is killed
    // leaves the previous files as they were. Its progress is in OUT.partial after every epoch,
    // where --resume continues from.
    train::ResumeOptions resume;
    resume.state_path = partial_path(request.out);
    resume.resume = request.resume;
    resume.key = training_metadata(request, request.train.epochs);
    resume.key["model"] = request.model;
    resume.key["images"] = std::to_string(train_set.size()) + " training, " + std::to_string(validation.size()) +
                           " validation, hash " + core::hex64(faults::data_checksum(train::input_batches(train_set), train_set.labels));
    if (!request.common.quiet) announce_partial(resume.state_path, request.resume, "run", "training from the start");
    std::vector<train::EpochLog> history = train::train_classifier(*model, train_set, &validation, options, {}, resume);
    if (!request.log_csv.empty()) write_epoch_csv(request.log_csv, history);
    layers::save_checkpoint(request.out, *model, training_metadata(request, options.epochs));
    std::error_code ignored;  // a state left behind is overwritten by the next run, or resumed
    std::filesystem::remove(resume.state_path, ignored);
    return {std::move(model), std::move(history)};
}

SplitRecord validation_split_of(const std::map<std::string, std::string>& metadata, const std::string& path,
                                double flag_fraction, bool fraction_given, uint64_t fallback_seed) {
    const auto seed = metadata.find("seed");
    const auto fraction = metadata.find("validation_fraction");
    if (seed == metadata.end() || fraction == metadata.end()) return {fallback_seed, flag_fraction, false};
    SplitRecord record;
    record.recorded = true;
    const std::string& seed_text = seed->second;
    const auto [seed_end, seed_error] = std::from_chars(seed_text.data(), seed_text.data() + seed_text.size(), record.seed);
    const std::string& fraction_text = fraction->second;
    const auto [fraction_end, fraction_error] =
        std::from_chars(fraction_text.data(), fraction_text.data() + fraction_text.size(), record.fraction);
    if (seed_error != std::errc() || seed_end != seed_text.data() + seed_text.size() || fraction_error != std::errc() ||
        fraction_end != fraction_text.data() + fraction_text.size() || !(record.fraction >= 0.0 && record.fraction < 1.0))
        core::fail<core::FormatError>(path, ": the recorded validation split (seed '", seed_text, "', fraction '",
                                      fraction_text, "') is malformed");
    if (fraction_given && flag_fraction != record.fraction)
        core::fail<core::ValueError>("--val-fraction ", flag_fraction, " conflicts with the validation fraction ",
                                     record.fraction, " that ", path,
                                     " was trained with; its validation images are held out from that record "
                                     "(leave the flag out)");
    return record;
}

void write_output(const std::string& path, const std::string& text, const std::string& note) {
    core::write_file_atomically(path, text);
    if (note.empty())
        std::printf("wrote %s\n", path.c_str());
    else
        std::printf("wrote %s (%s)\n", path.c_str(), note.c_str());
}

}  // namespace proact::apps
