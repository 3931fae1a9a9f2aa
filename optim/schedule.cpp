#include "optim/schedule.hpp"

#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace proact::optim {

using core::fail;

namespace {

void check_step(int64_t step, const char* schedule) {
    if (step < 0) fail<core::ValueError>(schedule, ".lr_at: step must be >= 0, got ", step);
}

void check_lr(float lr, const char* schedule, const char* what) {
    if (!std::isfinite(lr) || lr < 0.0f) fail<core::ValueError>(schedule, ": ", what, " must be finite and >= 0, got ", lr);
}

}  // namespace

float Schedule::factor_at(int64_t step) const {
    const float base = base_lr();
    if (base == 0.0f) fail<core::ValueError>("Schedule.factor_at: base_lr is 0, so no factor is defined");
    return lr_at(step) / base;
}

Constant::Constant(float lr) : lr_(lr) { check_lr(lr, "Constant", "lr"); }

float Constant::lr_at(int64_t step) const {
    check_step(step, "Constant");
    return lr_;
}

StepLR::StepLR(float base_lr, int64_t step_size, float gamma) : base_lr_(base_lr), step_size_(step_size), gamma_(gamma) {
    check_lr(base_lr, "StepLR", "base_lr");
    if (step_size <= 0) fail<core::ValueError>("StepLR: step_size must be > 0, got ", step_size);
    if (!std::isfinite(gamma) || gamma <= 0.0f) fail<core::ValueError>("StepLR: gamma must be finite and > 0, got ", gamma);
}

float StepLR::lr_at(int64_t step) const {
    check_step(step, "StepLR");
    return static_cast<float>(base_lr_ * std::pow(static_cast<double>(gamma_), static_cast<double>(step / step_size_)));
}

CosineAnnealing::CosineAnnealing(float base_lr, int64_t total, float min_lr)
    : base_lr_(base_lr), total_(total), min_lr_(min_lr) {
    check_lr(base_lr, "CosineAnnealing", "base_lr");
    check_lr(min_lr, "CosineAnnealing", "min_lr");
    if (total <= 0) fail<core::ValueError>("CosineAnnealing: total must be > 0, got ", total);
}

float CosineAnnealing::lr_at(int64_t step) const {
    check_step(step, "CosineAnnealing");
    if (step >= total_) return min_lr_;
    const double progress = static_cast<double>(step) / static_cast<double>(total_);
    return static_cast<float>(min_lr_ + (static_cast<double>(base_lr_) - min_lr_) *
                                            (1.0 + std::cos(std::numbers::pi * progress)) / 2.0);
}

LinearWarmup::LinearWarmup(std::shared_ptr<const Schedule> inner, int64_t warmup_steps, float start_factor)
    : inner_(std::move(inner)), warmup_steps_(warmup_steps), start_factor_(start_factor) {
    if (!inner_) fail<core::ValueError>("LinearWarmup: the inner schedule is null");
    if (warmup_steps < 0) fail<core::ValueError>("LinearWarmup: warmup_steps must be >= 0, got ", warmup_steps);
    if (!(start_factor > 0.0f && start_factor <= 1.0f))
        fail<core::ValueError>("LinearWarmup: start_factor must be in (0, 1], got ", start_factor);
}

float LinearWarmup::warmup_factor_at(int64_t step) const {
    check_step(step, "LinearWarmup");
    if (step >= warmup_steps_) return 1.0f;
    return static_cast<float>(start_factor_ + (1.0 - start_factor_) * static_cast<double>(step) /
                                                  static_cast<double>(warmup_steps_));
}

float LinearWarmup::lr_at(int64_t step) const {
    return static_cast<float>(static_cast<double>(inner_->lr_at(step)) * warmup_factor_at(step));
}

}  // namespace proact::optim
