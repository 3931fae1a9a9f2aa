// Learning-rate schedules: lr as a function of the epoch (or step) count, starting at 0.
//
//   CosineAnnealing cosine(0.01f, epochs, 1e-4f);
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//       optimizer.set_lr(cosine.lr_at(epoch));          // one group, or every group alike
//       // optimizer.set_lr_factor(cosine.factor_at(epoch));  // groups keep their lr ratios
//       ...
//   }
//
// Schedules are immutable and hold no clock: the caller says which epoch it is, so a resumed run
// gets the same rates.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

namespace proact::optim {

class Schedule {
public:
    virtual ~Schedule() = default;
    // The learning rate at `step` (>= 0; ValueError if negative).
    virtual float lr_at(int64_t step) const = 0;
    // The rate at step 0 of an undecorated schedule; what factor_at divides by.
    virtual float base_lr() const = 0;
    // lr_at(step) / base_lr(): for Optimizer::set_lr_factor with groups of different rates.
    // ValueError if base_lr() is 0.
    float factor_at(int64_t step) const;
};

// lr at every step.
class Constant : public Schedule {
public:
    explicit Constant(float lr);
    float lr_at(int64_t step) const override;
    float base_lr() const override { return lr_; }

private:
    float lr_;
};

// base * gamma^floor(step / step_size), as torch.optim.lr_scheduler.StepLR.
class StepLR : public Schedule {
public:
    StepLR(float base_lr, int64_t step_size, float gamma = 0.1f);
    float lr_at(int64_t step) const override;
    float base_lr() const override { return base_lr_; }

private:
    float base_lr_;
    int64_t step_size_;
    float gamma_;
};

// min_lr + (base - min_lr) * (1 + cos(pi * step / total)) / 2 for step <= total, and min_lr after
// (torch's CosineAnnealingLR closed form, except that it does not rise again past total).
class CosineAnnealing : public Schedule {
public:
    CosineAnnealing(float base_lr, int64_t total, float min_lr = 0.0f);
    float lr_at(int64_t step) const override;
    float base_lr() const override { return base_lr_; }

private:
    float base_lr_;
    int64_t total_;
    float min_lr_;
};

// inner.lr_at(step) * factor, where factor rises linearly from start_factor at step 0 to 1 at
// warmup_steps and stays 1 (torch's LinearLR chained with the inner schedule). The inner schedule
// keeps its own clock: a cosine over 100 epochs still ends at epoch 100.
class LinearWarmup : public Schedule {
public:
    LinearWarmup(std::shared_ptr<const Schedule> inner, int64_t warmup_steps, float start_factor = 0.1f);
    template <class S>
        requires std::is_base_of_v<Schedule, std::remove_cvref_t<S>>
    LinearWarmup(S&& inner, int64_t warmup_steps, float start_factor = 0.1f)
        : LinearWarmup(std::make_shared<const std::remove_cvref_t<S>>(std::forward<S>(inner)), warmup_steps,
                       start_factor) {}

    float lr_at(int64_t step) const override;
    float base_lr() const override { return inner_->base_lr(); }
    float warmup_factor_at(int64_t step) const;

private:
    std::shared_ptr<const Schedule> inner_;
    int64_t warmup_steps_;
    float start_factor_;
};

}  // namespace proact::optim
