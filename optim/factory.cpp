#include "optim/factory.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "optim/adam.hpp"
#include "optim/sgd.hpp"

namespace proact::optim {

namespace {

std::string known_names(const std::vector<std::string>& names) {
    std::string joined;
    for (const std::string& name : names) joined += (joined.empty() ? "" : ", ") + name;
    return joined;
}

}  // namespace

const std::vector<std::string>& optimizer_names() {
    static const std::vector<std::string> names = {"sgd", "adam", "adamw"};
    return names;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, NamedParameters params,
                                          const OptimizerSettings& settings) {
    if (name == "sgd")
        return std::make_unique<SGD>(std::move(params), SgdOptions{.lr = settings.lr,
                                                                   .momentum = settings.momentum,
                                                                   .weight_decay = settings.weight_decay,
                                                                   .nesterov = settings.nesterov});
    if (name == "adam")
        return std::make_unique<Adam>(std::move(params),
                                      AdamOptions{.lr = settings.lr, .weight_decay = settings.weight_decay});
    if (name == "adamw")
        return std::make_unique<AdamW>(std::move(params),
                                       AdamWOptions{.lr = settings.lr, .weight_decay = settings.weight_decay});
    core::fail<core::ValueError>("unknown optimizer '", name, "' (known: ", known_names(optimizer_names()), ")");
}

const std::vector<std::string>& schedule_names() {
    static const std::vector<std::string> names = {"constant", "step", "cosine"};
    return names;
}

std::shared_ptr<const Schedule> make_schedule(const std::string& name, const ScheduleSettings& settings) {
    std::shared_ptr<const Schedule> schedule;
    if (name == "constant") {
        schedule = std::make_shared<Constant>(settings.lr);
    } else if (name == "step") {
        schedule = std::make_shared<StepLR>(settings.lr, settings.step_size, settings.gamma);
    } else if (name == "cosine") {
        schedule = std::make_shared<CosineAnnealing>(settings.lr, std::max(1, settings.epochs));
    } else {
        core::fail<core::ValueError>("unknown schedule '", name, "' (known: ", known_names(schedule_names()), ")");
    }
    if (settings.warmup_epochs > 0) schedule = std::make_shared<LinearWarmup>(schedule, settings.warmup_epochs);
    return schedule;
}

}  // namespace proact::optim
