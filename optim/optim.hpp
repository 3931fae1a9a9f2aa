// proact::optim — optimizers and learning-rate schedules.
//
//   using namespace proact::optim;
//   SGD sgd(net->named_parameters(), {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-4f});
//   CosineAnnealing schedule(0.1f, epochs);
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//       sgd.set_lr(schedule.lr_at(epoch));
//       for (auto& batch : loader) {
//           sgd.zero_grad();                           // gradients undefined
//           cross_entropy((*net)(batch.x), batch.labels).backward();
//           sgd.step();                                // NumericError on a NaN/Inf gradient
//       }
//   }
//
// Parameter groups: each its own lr and weight decay (and momentum, betas...), found by name:
//
//   AdamW adamw({.lr = 0.01f});
//   adamw.add_param_group(scalar_thresholds, 0.01f, 4e-1f, "scalar");
//   adamw.add_param_group(neuron_thresholds, 1e-3f, 4e-1f, "neuron");
//   adamw.param_group("scalar").weight_decay = 4e-2f;    // try the next decay
//
// Freezing is the model's business: net->freeze("*") / net->unfreeze("features.3.*") set
// requires_grad, and step() leaves every parameter with requires_grad false (or no gradient)
// exactly as it is, its momentum/moments and its own step count included; unfrozen, it resumes.
//
// Trying something and going back:
//
//   OptimizerSnapshot before = adamw.snapshot(/*with_values=*/true);   // state + parameter values
//   ... train with weight decay 4e-1 ...
//   adamw.restore(before);           // values, moments, step counts and hyper-parameters as they were
//   adamw.reset_state();             // or: forget moments and step counts (values stay)
//
// optimizer.hpp: ParamGroup, ParamState, OptimizerSnapshot, the Optimizer base.
// progressive.hpp: ProgressiveThresholdOptimizer (one clipped layer's thresholds at a time).
// sgd.hpp: SGD.  adam.hpp: Adam, AdamW.  schedule.hpp: Constant, StepLR, CosineAnnealing, LinearWarmup.
// factory.hpp: make_optimizer / make_schedule by name, and the name lists the command line shows.
#pragma once

#include "optim/adam.hpp"
#include "optim/factory.hpp"
#include "optim/optimizer.hpp"
#include "optim/progressive.hpp"
#include "optim/schedule.hpp"
#include "optim/sgd.hpp"
