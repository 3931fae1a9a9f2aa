#include "proact/tuning.hpp"

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/format.hpp"
#include "train/evaluate.hpp"
#include "layers/zoo.hpp"

namespace proact::method {

namespace {

double accuracy_on(layers::Module& model, const datasets::Dataset& data) {
    return 100.0 * train::evaluate(model, data).accuracy();
}

// The grid's settings in order, the first axis slowest: per setting one value index per axis.
std::vector<std::vector<size_t>> grid_points(const std::vector<GridAxis>& grid) {
    std::vector<std::vector<size_t>> points = {{}};
    for (const GridAxis& axis : grid) {
        std::vector<std::vector<size_t>> next;
        for (const std::vector<size_t>& point : points)
            for (size_t v = 0; v < axis.values.size(); ++v) {
                next.push_back(point);
                next.back().push_back(v);
            }
        points = std::move(next);
    }
    return points;
}

TuneRow tune_one(const std::string& checkpoint, const HardenInputs& inputs, const MethodSettings& settings,
                 const TuneOptions& options, const RunSettings& run, double original_accuracy) {
    const Method& method = find_method(options.method);
    layers::ModulePtr model = load_for_hardening(checkpoint, options.batch_norm, options.campaign);
    TuneRow row;
    const HardenReport report = harden_with_base(method, *model, inputs, settings, RunSettings{run.seed, false}, {});
    quantize_hardened(*model, options.campaign);
    row.thresholds = report.thresholds;
    row.seconds = report.seconds;
    row.clean_accuracy = accuracy_on(*model, *inputs.validation);
    row.clean_drop = original_accuracy - row.clean_accuracy;
    row.eligible = row.clean_drop <= options.max_clean_drop;
    const faults::CampaignResult campaign =
        faults::run_campaign(*model, inputs.validation->images(), inputs.validation->labels, options.campaign);
    for (const faults::PointResult& point : campaign.points) row.accuracy.push_back(point.stats.mean);
    row.score = curve_score(campaign);
    return row;
}

}  // namespace

GridAxis parse_grid_axis(const std::string& text) {
    const size_t equals = text.find('=');
    if (equals == std::string::npos || equals == 0 || equals + 1 == text.size())
        core::fail<core::ValueError>("tune: grid '", text, "' is not name=value1,value2,...");
    GridAxis axis;
    axis.option = text.substr(0, equals);
    std::string item;
    std::istringstream items(text.substr(equals + 1));
    while (std::getline(items, item, ','))
        if (!item.empty()) axis.values.push_back(item);
    if (axis.values.empty()) core::fail<core::ValueError>("tune: grid '", text, "' lists no values");
    return axis;
}

TuneResult run_tuning(const std::string& checkpoint, const datasets::Dataset& train,
                      const datasets::Dataset& validation, const MethodSettings& settings,
                      const TuneOptions& options_in, const RunSettings& run,
                      const std::function<void(const TuneRow&)>& on_row) {
    TuneOptions options = options_in;
    options.campaign.seed = run.seed;
    options.campaign.purpose = "tuning";
    options.campaign.batch_norm = options.batch_norm;
    options.campaign.fault_thresholds = true;
    options.campaign.progress = false;
    faults::validate_options(options.campaign);
    if (!(options.max_clean_drop >= 0.0 && options.max_clean_drop <= 100.0))
        core::fail<core::ValueError>("tune: the clean-drop bound must be in [0, 100] points, got ", options.max_clean_drop);
    find_method(options.method);
    const std::vector<std::vector<size_t>> points = grid_points(options.grid);
    if (options.budget > 0 && int64_t(points.size()) > options.budget)
        core::fail<core::ValueError>("tune: the grid has ", points.size(), " settings, over the budget of ",
                                     options.budget, " evaluations");
    // Every setting is checked before the first one runs.
    std::vector<MethodSettings> all;
    for (const std::vector<size_t>& point : points) {
        MethodSettings setting = settings;
        for (size_t a = 0; a < options.grid.size(); ++a)
            set_method_option(setting, options.method, options.grid[a].option, options.grid[a].values[point[a]]);
        validate_settings(setting);
        all.push_back(std::move(setting));
    }

    layers::ModulePtr original = load_for_hardening(checkpoint, options.batch_norm, options.campaign);
    TuneResult result;
    result.method = options.method;
    result.model = layers::model_info(*original) ? layers::model_info(*original)->name : checkpoint;
    result.format = options.campaign.format.to_string();
    for (const GridAxis& axis : options.grid) result.axes.push_back(axis.option);
    result.bers = options.campaign.bers;
    result.trials = options.campaign.trials;
    result.seed = run.seed;
    result.validation_images = validation.size();
    result.original_accuracy = accuracy_on(*original, validation);
    result.max_clean_drop = options.max_clean_drop;
    const HardenInputs inputs{layers::model_info(*original)->input_shape, &train, &validation, options.campaign.format,
                              options.campaign.bers, {}};
    for (size_t i = 0; i < points.size(); ++i) {
        TuneRow row = tune_one(checkpoint, inputs, all[i], options, run, result.original_accuracy);
        for (size_t a = 0; a < options.grid.size(); ++a) row.values.push_back(options.grid[a].values[points[i][a]]);
        if (row.eligible && (result.best < 0 || row.score > result.rows[size_t(result.best)].score)) result.best = int(i);
        result.rows.push_back(std::move(row));
        if (on_row) on_row(result.rows.back());
    }
    return result;
}

std::string tuning_markdown(const TuneResult& result) {
    std::ostringstream md;
    md << "# tune " << result.method << " on " << result.model << ", " << result.format << "\n\n"
       << "Each setting hardened on the training split and judged on the " << result.validation_images
       << " validation images under fault purpose \"tuning\" (seed " << result.seed << ", " << result.trials
       << " trials per BER). Score: mean accuracy over log10 BER. Eligible: clean validation accuracy at most "
       << core::fixed(result.max_clean_drop) << " points below the unclipped model's "
       << core::fixed(result.original_accuracy) << "%.\n\n|";
    for (const std::string& axis : result.axes) md << " " << axis << " |";
    md << " clean | drop |";
    for (double ber : result.bers) md << " BER " << ber << " |";
    md << " score | eligible | thresholds | seconds |\n|";
    for (size_t i = 0; i < result.axes.size() + result.bers.size() + 6; ++i) md << "---|";
    md << "\n";
    for (size_t r = 0; r < result.rows.size(); ++r) {
        const TuneRow& row = result.rows[r];
        md << "|";
        for (const std::string& value : row.values) md << " " << value << " |";
        md << " " << core::fixed(row.clean_accuracy) << " | " << core::fixed(row.clean_drop) << " |";
        for (double accuracy : row.accuracy) md << " " << core::fixed(accuracy) << " |";
        md << " " << (int(r) == result.best ? "**" + core::fixed(row.score) + "**" : core::fixed(row.score)) << " | "
           << (row.eligible ? "yes" : "no") << " | " << row.thresholds << " | " << core::fixed(row.seconds, 1)
           << " |\n";
    }
    md << "\nBest: ";
    if (result.best < 0) {
        md << "none (no setting kept the clean accuracy within the bound)\n";
    } else {
        const TuneRow& best = result.rows[size_t(result.best)];
        for (size_t a = 0; a < result.axes.size(); ++a) md << (a ? ", " : "") << result.axes[a] << "=" << best.values[a];
        if (result.axes.empty()) md << "the defaults";
        md << " (score " << core::fixed(best.score) << ")\n";
    }
    return md.str();
}

std::string tuning_csv(const TuneResult& result) {
    std::ostringstream csv;
    for (const std::string& axis : result.axes) csv << axis << ",";
    csv << "clean_accuracy,clean_drop,";
    for (double ber : result.bers) csv << "accuracy_" << ber << ",";
    csv << "score,eligible,best,thresholds\n";
    for (size_t r = 0; r < result.rows.size(); ++r) {
        const TuneRow& row = result.rows[r];
        for (const std::string& value : row.values) csv << '"' << value << "\",";
        csv << core::fixed(row.clean_accuracy, 4) << "," << core::fixed(row.clean_drop, 4) << ",";
        for (double accuracy : row.accuracy) csv << core::fixed(accuracy, 4) << ",";
        csv << core::fixed(row.score, 4) << "," << (row.eligible ? 1 : 0) << "," << (int(r) == result.best ? 1 : 0)
            << "," << row.thresholds << "\n";
    }
    return csv.str();
}

std::string tuning_json(const TuneResult& result) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (const TuneRow& row : result.rows) {
        nlohmann::ordered_json values;
        for (size_t a = 0; a < result.axes.size(); ++a) values[result.axes[a]] = row.values[a];
        rows.push_back({{"values", values}, {"clean_accuracy", row.clean_accuracy}, {"clean_drop", row.clean_drop},
                        {"accuracy", row.accuracy}, {"score", row.score}, {"eligible", row.eligible},
                        {"thresholds", row.thresholds}});
    }
    const nlohmann::ordered_json json = {
        {"experiment", "proact tune"}, {"method", result.method}, {"model", result.model},
        {"format", result.format}, {"fault_purpose", "tuning"}, {"seed", result.seed},
        {"bers", result.bers}, {"trials", result.trials}, {"validation_images", result.validation_images},
        {"original_accuracy", result.original_accuracy}, {"max_clean_drop", result.max_clean_drop},
        {"axes", result.axes}, {"rows", rows},
        {"best", result.best < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(result.best)}};
    return json.dump(1) + "\n";
}

}  // namespace proact::method
