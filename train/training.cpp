#include "train/training.hpp"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "autograd/ops.hpp"
#include "core/progress.hpp"
#include "core/reduce.hpp"
#include "datasets/loader.hpp"
#include "train/evaluate.hpp"
#include "optim/factory.hpp"

namespace proact::train {

using autograd::Variable;

std::unique_ptr<optim::Optimizer> make_optimizer(layers::Module& model, const TrainOptions& options) {
    return optim::make_optimizer(options.optimizer, model.named_parameters(),
                                 {.lr = options.lr, .momentum = options.momentum, .nesterov = options.nesterov,
                                  .weight_decay = options.weight_decay});
}

std::shared_ptr<const optim::Schedule> make_schedule(const TrainOptions& options) {
    return optim::make_schedule(options.schedule, {.lr = options.lr,
                                                   .epochs = options.epochs,
                                                   .step_size = options.step_size,
                                                   .gamma = options.gamma,
                                                   .warmup_epochs = options.warmup_epochs});
}

std::map<std::string, std::string> options_key(const TrainOptions& options) {
    // The shortest text that reads back as the float the run uses.
    const auto exact_float = [](float value) {
        char text[32];
        const auto written = std::to_chars(text, text + sizeof text, value);
        return std::string(text, written.ptr);
    };
    return {{"epochs", std::to_string(options.epochs)},
            {"batch_size", std::to_string(options.batch_size)},
            {"optimizer", options.optimizer},
            {"lr", exact_float(options.lr)},
            {"momentum", exact_float(options.momentum)},
            {"nesterov", options.nesterov ? "true" : "false"},
            {"weight_decay", exact_float(options.weight_decay)},
            {"schedule", options.schedule},
            {"step_size", std::to_string(options.step_size)},
            {"gamma", exact_float(options.gamma)},
            {"warmup_epochs", std::to_string(options.warmup_epochs)},
            {"augment", options.augment ? "true" : "false"},
            {"seed", std::to_string(options.seed)},
            {"eval_batch_size", std::to_string(options.eval_batch_size)},
            {"max_batches_per_epoch", std::to_string(options.max_batches_per_epoch)}};
}

namespace {

datasets::Augmentation augmentation_for(const datasets::Dataset& data, bool enabled) {
    datasets::Augmentation augment;
    if (!enabled || data.sample_shape().size() != 3) return augment;
    augment.crop_padding = data.sample_shape()[1] >= 32 ? 4 : 2;
    augment.horizontal_flip = true;
    return augment;
}

}  // namespace

namespace {

// One pass over the loader's epoch: forward, cross-entropy, backward, step. Fills the training
// part of `log` (loss, accuracy, seconds, images/s); the caller finishes the bar.
void train_one_epoch(layers::Module& model, datasets::DataLoader& loader, optim::Optimizer& optimizer,
                     int64_t max_batches, core::ProgressBar& bar, EpochLog& log) {
    double loss_total = 0.0;
    int64_t seen = 0, correct = 0, batches = 0;
    while (auto batch = loader.next()) {
        const int64_t size = batch->images.size(0);
        Variable logits = model(Variable(batch->images));
        Variable loss = autograd::cross_entropy(logits, batch->labels);
        const float loss_value = loss.item();
        if (!std::isfinite(loss_value)) {
            core::fail<core::NumericError>("train: loss is ", loss_value, " at epoch ", log.epoch, ", batch ",
                                           batches + 1, " (lr ", log.lr,
                                           "); training stopped, nothing was saved for this run");
        }
        optimizer.zero_grad();
        loss.backward();
        optimizer.step();
        // accuracy of this batch from the logits already computed
        const std::vector<int64_t> predicted = core::argmax(logits.value(), 1);
        for (int64_t i = 0; i < size; ++i) correct += predicted[static_cast<size_t>(i)] == batch->labels[static_cast<size_t>(i)];
        loss_total += double(loss_value) * double(size);
        seen += size;
        ++batches;
        std::ostringstream status;
        status.precision(3);
        status << "loss " << loss_total / double(seen) << " acc " << 100.0 * double(correct) / double(seen) << "%";
        bar.update(batches, seen, status.str());
        if (batches == max_batches) break;
    }
    log.seconds = bar.elapsed_seconds();
    log.train_loss = seen ? loss_total / double(seen) : 0.0;
    log.train_accuracy = seen ? double(correct) / double(seen) : 0.0;
    log.images_per_second = log.seconds > 0 ? double(seen) / log.seconds : 0.0;
}

}  // namespace

std::vector<EpochLog> train_classifier(layers::Module& model, const datasets::Dataset& train,
                                       const datasets::Dataset* validation, const TrainOptions& options,
                                       const std::function<void(const EpochLog&)>& on_epoch,
                                       const ResumeOptions& resume) {
    if (options.epochs < 0) core::fail<core::ValueError>("train: epochs must be >= 0, got ", options.epochs);
    if (options.batch_size <= 0) core::fail<core::ValueError>("train: batch size must be positive, got ", options.batch_size);
    const std::shared_ptr<const optim::Schedule> schedule = make_schedule(options);
    std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(model, options);
    datasets::DataLoader loader(train, {.batch_size = options.batch_size,
                                        .shuffle = true,
                                        .drop_last = false,
                                        .seed = options.seed,
                                        .augment = augmentation_for(train, options.augment)});
    std::vector<EpochLog> history;
    std::map<std::string, std::string> key = resume.key;
    for (const auto& [name, value] : options_key(options)) key["train." + name] = value;
    if (resume.resume && !resume.state_path.empty() && std::filesystem::exists(resume.state_path))
        history = load_training_state(resume.state_path, key, model, *optimizer);
    if (static_cast<int>(history.size()) > options.epochs)
        core::fail<core::ValueError>("train: '", resume.state_path, "' records ", history.size(), " epochs, this run has ",
                                     options.epochs);
    for (int epoch = static_cast<int>(history.size()); epoch < options.epochs; ++epoch) {
        EpochLog log;
        log.epoch = epoch + 1;
        log.lr = schedule->lr_at(epoch);
        optimizer->set_lr(log.lr);
        model.train();
        loader.start_epoch(epoch);
        std::ostringstream label;
        label << "train epoch " << epoch + 1 << "/" << options.epochs;
        core::ProgressBar bar(label.str(), loader.num_batches(), options.progress);
        bar.set_unit("img/s");
        train_one_epoch(model, loader, *optimizer, options.max_batches_per_epoch, bar, log);
        // The tensor pool keeps freed buffers by exact size, and an evaluation batch (eval_batch_size
        // images) has other sizes than a training step's: handing the step's buffers back before
        // validation, and validation's before the next epoch, lets each phase reuse the other's
        // memory instead of holding both (LeNet-5 on Fashion-MNIST: 149 -> 134 MB resident).
        core::buffer_pool_clear();
        log.validation_loss = log.validation_accuracy = std::numeric_limits<double>::quiet_NaN();
        std::ostringstream final_status;
        final_status.precision(4);
        final_status << "loss " << log.train_loss << " acc " << 100.0 * log.train_accuracy << "%";
        if (validation && validation->size() > 0) {
            const layers::EvalResult result = evaluate(model, *validation, options.eval_batch_size);
            core::buffer_pool_clear();
            log.validation_loss = result.loss;
            log.validation_accuracy = result.accuracy();
            final_status << "  val loss " << log.validation_loss << " val acc " << 100.0 * log.validation_accuracy << "%";
        }
        bar.finish(final_status.str());
        history.push_back(log);
        if (!resume.state_path.empty()) save_training_state(resume.state_path, key, model, *optimizer, history);
        if (on_epoch) on_epoch(log);
    }
    model.eval();
    return history;
}

}  // namespace proact::train
