// proact::method — the method: clipped-activation hardening of a trained model.
//
//   // Ranger, the cheap baseline: thresholds = the maxima of each ReLU on 1,024 training images
//   auto profiles = method::profile_activations(*model, {1, 28, 28}, images);
//   method::ranger_harden(*model, {1, 28, 28}, profiles, layers::HybridClip::parse("layer:hard"));
//
//   // ProAct: hybrid thresholds from Ranger, trained layer by layer, last to first
//   method::ProActOptions options;  options.seed = seed;
//   method::ProActResult result = method::proact_harden(*model, {1, 28, 28}, train, validation, options);
//   layers::save_checkpoint("hardened.safetensors", *model);   // loads with layers::load_model
//
// ranger.hpp: activation profiles, Ranger.  proact.hpp: ProAct.  fitact.hpp, ftclipact.hpp: the
// baselines.  hardening_report.hpp: what every method reports.  threshold_training.hpp: the frozen
// prefix (a layers::StageChain split into frozen prefix and trained suffix) and its cached inputs,
// shared by ProAct and FitAct.  comparison.hpp: the comparison experiment.  train/training.hpp:
// the generic loop.
#pragma once

#include "proact/comparison.hpp"
#include "proact/fitact.hpp"
#include "proact/ftclipact.hpp"
#include "proact/hardening_report.hpp"
#include "proact/proact.hpp"
#include "proact/ranger.hpp"
#include "proact/threshold_training.hpp"
#include "train/training.hpp"
