#include "proact/ftclipact.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <span>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/progress.hpp"
#include "faults/injector.hpp"
#include "train/evaluate.hpp"
#include "proact/ranger.hpp"
#include "proact/threshold_training.hpp"

namespace proact::method {

using core::fail;

faults::CampaignOptions ftclipact_default_campaign() {
    faults::CampaignOptions campaign;
    campaign.bers = {1e-7, 1e-6, 3e-6, 1e-5, 3e-5};
    campaign.trials = 5;
    campaign.progress = false;
    return campaign;
}

void validate_options(const FtClipActOptions& options) {
    faults::validate_options(options.campaign);
    const bool exact = options.campaign.fault_model.is_exact();
    if (!exact)
        for (double ber : options.campaign.bers)
            if (!(ber > 0.0)) fail<core::ValueError>("FtClipAct: search BERs must be > 0 (the score is over log10 BER), got ", ber);
    if (options.campaign.shard.count != 1 || options.campaign.ci_margin != 0.0)
        fail<core::ValueError>("FtClipAct: search campaigns run every trial in one shard without early stopping");
    if (options.max_search_bers < 1)
        fail<core::ValueError>("FtClipAct: the search BER count must be at least 1, got ", options.max_search_bers);
    if (options.cache_budget_bytes < 0)
        fail<core::ValueError>("FtClipAct: the cache budget must be >= 0 bytes, got ", options.cache_budget_bytes);
    if (options.subset_images < 1) fail<core::ValueError>("FtClipAct: subset images must be at least 1, got ", options.subset_images);
    if (options.candidates < 2) fail<core::ValueError>("FtClipAct: candidates per round must be at least 2, got ", options.candidates);
    if (options.min_rounds < 1 || options.max_rounds < options.min_rounds)
        fail<core::ValueError>("FtClipAct: rounds must satisfy 1 <= min rounds <= max rounds, got ", options.min_rounds,
                               " and ", options.max_rounds);
    if (!(options.score_tolerance >= 0.0 && options.score_tolerance <= 100.0))
        fail<core::ValueError>("FtClipAct: score tolerance must be in [0, 100] accuracy points, got ", options.score_tolerance);
}

SearchResult search_threshold(float high, const FtClipActOptions& options, const std::function<float(float)>& quantize,
                              const std::function<double(float)>& score, const std::function<void(int, int)>& on_candidate) {
    SearchResult result;
    float low = 0.0f;
    bool have_best = false;
    for (int round = 0; round < options.max_rounds; ++round) {
        SearchRound entry;
        entry.low = low;
        entry.high = high;
        for (int c = 0; c < options.candidates; ++c) {
            const double fraction = double(c) / double(options.candidates - 1);
            const float threshold = quantize(static_cast<float>(double(low) + (double(high) - double(low)) * fraction));
            if (on_candidate) on_candidate(round, c);
            entry.thresholds.push_back(threshold);
            entry.scores.push_back(score(threshold));
            const double value = entry.scores.back();
            if (!have_best || value > result.best_score ||
                (value == result.best_score && threshold < result.best_threshold)) {
                result.best_score = value;
                result.best_threshold = threshold;
                have_best = true;
            }
        }
        const auto [worst, best] = std::minmax_element(entry.scores.begin(), entry.scores.end());
        const size_t best_index = static_cast<size_t>(best - entry.scores.begin());
        const double spread = *best - *worst;
        low = entry.thresholds[best_index == 0 ? 0 : best_index - 1];
        high = entry.thresholds[std::min(best_index + 1, entry.thresholds.size() - 1)];
        result.rounds.push_back(std::move(entry));
        if (round + 1 >= options.min_rounds && spread <= options.score_tolerance) break;
    }
    return result;
}

double campaign_score(layers::Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                      const faults::CampaignOptions& campaign, faults::TrialInputCache* shared) {
    faults::CampaignOptions options = campaign;
    options.progress = false;
    faults::Campaign run(model, images, labels, options);
    if (shared) run.share_trial_inputs(*shared);
    return curve_score(run.run());
}

double curve_score(const faults::CampaignResult& result) {
    std::vector<std::pair<double, double>> curve;  // (log10 rate, mean accuracy)
    for (const faults::PointResult& point : result.points) curve.emplace_back(std::log10(point.rate), point.stats.mean);
    std::sort(curve.begin(), curve.end());
    if (curve.size() == 1 || curve.back().first == curve.front().first) return curve.front().second;
    double area = 0.0;
    for (size_t i = 1; i < curve.size(); ++i)
        area += 0.5 * (curve[i].second + curve[i - 1].second) * (curve[i].first - curve[i - 1].first);
    return area / (curve.back().first - curve.front().first);
}

std::vector<double> search_bers_for(const std::vector<double>& evaluation_bers, size_t count,
                                    const std::function<double(double)>& accuracy_at) {
    std::vector<double> bers = evaluation_bers;
    std::sort(bers.begin(), bers.end());
    if (bers.size() <= count) return bers;
    std::vector<double> accuracy;
    for (double ber : bers) accuracy.push_back(accuracy_at(ber));
    size_t best = 0;
    double best_fall = -std::numeric_limits<double>::infinity();
    for (size_t first = 0; first + count <= bers.size(); ++first) {
        const double fall = accuracy[first] - accuracy[first + count - 1];
        if (fall > best_fall) {
            best_fall = fall;
            best = first;
        }
    }
    return {bers.begin() + static_cast<std::ptrdiff_t>(best), bers.begin() + static_cast<std::ptrdiff_t>(best + count)};
}

namespace {

using Clock = std::chrono::steady_clock;

double validation_accuracy(layers::Module& model, const datasets::Dataset& validation) {
    return 100.0 * train::evaluate(model, validation).accuracy();
}

float& threshold_of(const layers::ActivationSite& site) {
    return static_cast<layers::ClippedReLU&>(*site.module).threshold().value().data()[0];
}

// The accuracy with every threshold at +inf for one evaluation (the values are put back).
double unclipped_accuracy(layers::Module& model, const std::vector<layers::ActivationSite>& sites,
                          const datasets::Dataset& validation) {
    std::vector<float> saved;
    for (const auto& site : sites) saved.push_back(std::exchange(threshold_of(site), std::numeric_limits<float>::infinity()));
    const double accuracy = validation_accuracy(model, validation);
    for (size_t i = 0; i < sites.size(); ++i) threshold_of(sites[i]) = saved[i];
    return accuracy;
}

// search_bers_for with the unclipped model's accuracy on search faults of the subset (its weights
// put on the format's grid: quantising is idempotent, the search does it again after clipping).
std::vector<double> window_of_search_bers(layers::Module& model, const core::Tensor& images,
                                          const std::vector<int32_t>& labels, const FtClipActOptions& options) {
    std::vector<faults::FaultTarget> weights = faults::select_targets(model, options.campaign.patterns, false);
    faults::quantize_targets(weights, options.campaign.format);
    faults::CampaignOptions probe = options.campaign;
    probe.progress = false;
    const faults::CampaignResult unprotected = faults::run_campaign(model, images, labels, probe);
    return search_bers_for(options.campaign.bers, size_t(options.max_search_bers), [&](double ber) {
        for (const faults::PointResult& point : unprotected.points)
            if (point.rate == ber) return point.stats.mean;
        return 0.0;
    });
}

}  // namespace

FtClipActResult ftclipact_harden(layers::Module& model, const core::Shape& input_shape, const datasets::Dataset& train,
                                 const datasets::Dataset& validation, const FtClipActOptions& options_in,
                                 core::ClipMode mode, const RunSettings& run,
                                 const std::function<void(const FtClipActLayer&)>& on_layer) {
    const auto start = Clock::now();
    FtClipActOptions options = options_in;
    options.campaign.seed = run.seed;
    options.campaign.purpose = "search";
    validate_options(options);
    if (mode == core::ClipMode::smooth)
        fail<core::ValueError>("FtClipAct: clips hard (or saturate), not smooth: its search needs no gradient");
    check_data(train, "FtClipAct", "training", input_shape);
    check_data(validation, "FtClipAct", "validation", input_shape);
    layers::ModeGuard eval_mode(model, /*training=*/false);
    FtClipActResult result;
    const std::vector<int64_t> rows = ranger_subset(train.size(), options.subset_images, run.seed);
    const core::Tensor images = train.gather(rows);
    std::vector<int32_t> labels;
    for (int64_t row : rows) labels.push_back(train.labels[static_cast<size_t>(row)]);
    const std::vector<ActivationProfile> profiles = profile_activations(model, input_shape, images);
    if (options.campaign.bers.size() > size_t(options.max_search_bers))
        options.campaign.bers = window_of_search_bers(model, images, labels, options);
    result.search_bers = options.campaign.bers;

    const layers::HybridClip config{layers::ClipScheme::layer, mode, 20.0f};
    const std::vector<layers::ActivationSite> sites = ranger_harden(model, input_shape, profiles, config);
    model.eval();  // the clipped activations the surgery added, too
    std::vector<faults::FaultTarget> targets =
        faults::select_targets(model, options.campaign.patterns, options.campaign.fault_thresholds);
    result.quantized_values = faults::quantize_targets(targets, options.campaign.format).changed;
    const faults::StorageFormat& format = options.campaign.format;
    // A layer-wise threshold is a tensor of one value (int8: with a scale of its own).
    const auto quantize = [&format](float value) {
        faults::quantize_inplace(std::span<float>(&value, 1), format);
        return value;
    };
    // The Ranger thresholds themselves on the grid, for the layers not searched yet.
    for (const layers::ActivationSite& site : sites) threshold_of(site) = quantize(threshold_of(site));
    result.activation = config.to_string();
    result.format = format.to_string();
    result.seed = run.seed;
    result.subset_images = static_cast<int64_t>(rows.size());
    result.threshold_count = static_cast<int64_t>(sites.size());
    result.original_accuracy = unclipped_accuracy(model, sites, validation);
    result.ranger_accuracy = validation_accuracy(model, validation);

    const int64_t steps = int64_t(sites.size()) * options.max_rounds * options.candidates;
    core::ProgressBar bar("FtClipAct", steps, run.progress);
    bar.set_unit("campaigns/s");
    for (size_t i = 0; i < sites.size(); ++i) {
        float& threshold = threshold_of(sites[i]);
        FtClipActLayer layer;
        layer.path = sites[i].path;
        layer.ranger_max = threshold;
        const int64_t layer_start = int64_t(i) * options.max_rounds * options.candidates;
        const auto on_candidate = [&](int round, int candidate) {
            std::ostringstream status;
            status << "layer " << i + 1 << "/" << sites.size() << " " << layer.path << " round " << round + 1 << "/"
                   << options.max_rounds << " candidate " << candidate + 1 << "/" << options.candidates;
            const int64_t done = layer_start + int64_t(round) * options.candidates + candidate;
            bar.update(done, result.campaigns, status.str());
        };
        // The stages before this layer's are the same in every candidate's campaign.
        faults::TrialInputCache shared(layer.path, options.cache_budget_bytes);
        const auto score = [&](float candidate) {
            threshold = candidate;
            ++result.campaigns;
            return campaign_score(model, images, labels, options.campaign, &shared);
        };
        layer.search = search_threshold(layer.ranger_max, options, quantize, score, on_candidate);
        threshold = layer.search.best_threshold;
        result.layers.push_back(layer);
        if (on_layer) on_layer(result.layers.back());
    }
    bar.update(steps, result.campaigns);
    result.final_accuracy = validation_accuracy(model, validation);
    std::ostringstream status;
    status << result.campaigns << " campaigns, validation " << result.ranger_accuracy << "% -> " << result.final_accuracy << "%";
    bar.finish(status.str());
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

std::string layer_summary(const FtClipActLayer& layer) {
    char line[256];
    std::snprintf(line, sizeof(line), "%-16s threshold %.4g -> %.4g  score %.2f%%  %zu rounds", layer.path.c_str(),
                  layer.ranger_max, layer.search.best_threshold, layer.search.best_score, layer.search.rounds.size());
    return line;
}

std::string ftclipact_json(const FtClipActResult& result, const FtClipActOptions& options, bool with_times) {
    const faults::CampaignOptions& campaign = options.campaign;
    nlohmann::ordered_json settings = {
        {"format", campaign.format.to_string()}, {"fault_model", campaign.fault_model.to_string()},
        {"bit_mask", campaign.bit_mask}, {"bers", campaign.bers}, {"trials", campaign.trials},
        {"fault_thresholds", campaign.fault_thresholds}, {"seed", result.seed}, {"purpose", "search"},
        {"searched_bers", result.search_bers},
        {"subset_images", options.subset_images}, {"candidates", options.candidates},
        {"min_rounds", options.min_rounds}, {"max_rounds", options.max_rounds},
        {"score_tolerance", options.score_tolerance}};
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const FtClipActLayer& layer : result.layers) {
        nlohmann::ordered_json rounds = nlohmann::ordered_json::array();
        for (const SearchRound& round : layer.search.rounds)
            rounds.push_back({{"low", round.low}, {"high", round.high}, {"thresholds", round.thresholds},
                              {"scores", round.scores}});
        layers.push_back({{"path", layer.path}, {"ranger_max", layer.ranger_max},
                          {"threshold", layer.search.best_threshold}, {"score", layer.search.best_score},
                          {"rounds", rounds}});
    }
    nlohmann::ordered_json json = {{"method", "ftclipact"},
                                   {"activation", result.activation},
                                   {"format", result.format},
                                   {"threshold_count", result.threshold_count},
                                   {"subset_images", result.subset_images},
                                   {"campaigns", result.campaigns},
                                   {"quantized_values", result.quantized_values},
                                   {"original_accuracy", result.original_accuracy},
                                   {"ranger_accuracy", result.ranger_accuracy},
                                   {"final_accuracy", result.final_accuracy},
                                   {"options", settings},
                                   {"layers", layers}};
    if (with_times) json["seconds"] = result.seconds;
    return json.dump(2) + "\n";
}

}  // namespace proact::method
