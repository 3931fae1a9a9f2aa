// proact eval: accuracy and confusion matrix of a checkpoint on a data set.
#include <algorithm>
#include <cstdio>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "apps/output_paths.hpp"
#include "apps/pipeline.hpp"
#include "datasets/registry.hpp"

namespace proact::apps {

namespace {

struct EvalCommand {
    CommonOptions common;
    std::string model_file;
    std::string dataset = "fashion-mnist";
    std::string split = "test";
    int64_t batch_size = 1000;
    std::string json_path;
    bool allow_nonfinite = false;
};

void run_eval(const EvalCommand& command) {
    apply_common_options(command.common);
    OutputPlan plan("eval");
    plan.input("--model-file", command.model_file);
    plan.data_set(command.dataset, command.common.data_dir);
    plan.output("--json", command.json_path);
    plan.check();
    const LoadedModel loaded = load_model_file(command.model_file);
    if (!command.allow_nonfinite) refuse_non_finite(loaded, "eval");
    const datasets::Dataset data = load_split_for(loaded, "eval", command.dataset, command.split, command.common);
    const int64_t batch = std::min(command.batch_size, data.size());
    note_memory_request("--batch-size", "batches of " + std::to_string(batch) + " images of " +
                                            core::shape_str(data.sample_shape()) + " (inputs alone)",
                        double(batch) * double(core::numel_of(data.sample_shape())) * 4.0);
    const layers::EvalResult result =
        evaluate_and_print(*loaded.model, data, command.batch_size,
                           command.model_file + " on " + command.dataset + " " + command.split);
    if (!command.json_path.empty())
        write_output(command.json_path,
                     eval_json(result, data.class_names,
                               {{"model_file", command.model_file}, {"dataset", command.dataset}, {"split", command.split}}));
}

}  // namespace

void register_eval(CLI::App& app) {
    auto command = std::make_shared<EvalCommand>();
    CLI::App* sub = app.add_subcommand("eval", "Accuracy and confusion matrix of a checkpoint");
    sub->add_option("--model-file", command->model_file, "Checkpoint (safetensors) written by proact train")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("--dataset", command->dataset, "Data set: " + name_list(datasets::dataset_names()))->capture_default_str();
    sub->add_option("--split", command->split, "train | test")->check(CLI::IsMember({"train", "test"}))->capture_default_str();
    sub->add_option("--batch-size", command->batch_size, "Most images per forward pass (it may run fewer at a time, one batch per thread; the numbers are the same)")->check(whole_number(1, kMaxBatchSize))->capture_default_str();
    sub->add_option("--json", command->json_path, "Also write the result as JSON");
    sub->add_flag("--allow-nonfinite", command->allow_nonfinite,
                  "Evaluate a checkpoint whose weights hold NaN or Inf (refused otherwise)");
    add_common_options(*sub, command->common);
    sub->callback([command] { run_eval(*command); });
}

}  // namespace proact::apps
