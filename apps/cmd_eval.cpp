// proact eval: accuracy and confusion matrix of a checkpoint on a data set.
#include <cstdio>
#include <memory>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "layers/checkpoint.hpp"
#include "layers/zoo.hpp"

namespace proact::apps {

namespace {

struct EvalCommand {
    CommonOptions common;
    std::string model_file;
    std::string dataset = "fashion-mnist";
    std::string split = "test";
    int64_t batch_size = 1000;
    std::string json_path;
};

void run_eval(const EvalCommand& command) {
    apply_common_options(command.common);
    const layers::Checkpoint checkpoint = layers::load_checkpoint(command.model_file);
    layers::ModulePtr model = layers::load_model(command.model_file);
    const auto shape_entry = checkpoint.metadata.find("input_shape");
    const core::Shape image_shape =
        shape_entry != checkpoint.metadata.end() ? layers::parse_shape(shape_entry->second) : core::Shape{3, 32, 32};
    const datasets::Dataset data = load_split(command.dataset, command.split, command.common, image_shape);
    if (data.sample_shape() != image_shape)
        core::fail<core::ShapeError>("eval: ", command.model_file, " expects inputs of shape ",
                                     core::shape_str(image_shape), ", data set ", command.dataset, " has ",
                                     core::shape_str(data.sample_shape()));
    const layers::EvalResult result = layers::evaluate(*model, data.images, data.labels, command.batch_size);
    std::printf("%s on %s %s\n%s", command.model_file.c_str(), command.dataset.c_str(), command.split.c_str(),
                format_confusion(result, data.class_names).c_str());
    if (!command.json_path.empty()) {
        write_text_file(command.json_path,
                        eval_json(result, data.class_names,
                                  {{"model_file", command.model_file}, {"dataset", command.dataset}, {"split", command.split}}));
        std::printf("wrote %s\n", command.json_path.c_str());
    }
}

}  // namespace

void register_eval(CLI::App& app) {
    auto command = std::make_shared<EvalCommand>();
    CLI::App* sub = app.add_subcommand("eval", "Accuracy and confusion matrix of a checkpoint");
    sub->add_option("--model-file", command->model_file, "Checkpoint (safetensors) written by proact train")
        ->required()
        ->check(CLI::ExistingFile);
    sub->add_option("--dataset", command->dataset, "Data set")->capture_default_str();
    sub->add_option("--split", command->split, "train | test")->check(CLI::IsMember({"train", "test"}))->capture_default_str();
    sub->add_option("--batch-size", command->batch_size, "Inference batch size")->check(CLI::PositiveNumber)->capture_default_str();
    sub->add_option("--json", command->json_path, "Also write the result as JSON");
    add_common_options(*sub, command->common);
    sub->callback([command] { run_eval(*command); });
}

}  // namespace proact::apps
