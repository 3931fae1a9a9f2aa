// Batch-norm folding: a batch norm right after a conv (or linear) layer merged into that layer, as
// inference deployments store a model (the folded weights and biases are then what faults hit).
//
//   layers::fold_batch_norm(*model);                 // vgg11_bn: 8 folded, resnet20: 21
//   // features.0 gains "bias"; features.1 is an Identity; no "features.1.running_mean" any more
//   layers::save_checkpoint("folded.safetensors", *model);   // metadata "batch_norm" = "folded"
//   auto again = layers::load_model("folded.safetensors");   // folded again, weights loaded
//
// With the running statistics, per output channel c (the eval-mode batch norm, exactly):
//   scale[c] = gamma[c] / sqrt(running_var[c] + eps)
//   w'[c, ...] = w[c, ...] * scale[c]
//   b'[c] = (b[c] - running_mean[c]) * scale[c] + beta[c]      (b = 0 for a layer without bias)
// each value computed in double from the float inputs and rounded to float once, in a fixed order,
// so the result is the same bytes on every run and thread count. Eval-mode logits agree with the
// unfolded model's up to float rounding.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "layers/module.hpp"

namespace proact::layers {

// Folds every BatchNorm2d that directly follows a Conv2d, and every BatchNorm1d that directly
// follows a Linear, into that layer, and replaces the batch norm by an Identity (so no other module
// changes its name). A layer without bias gains one (Conv2d::add_bias): an ordinary parameter,
// trainable and a default fault target like any bias. Returns the number of batch norms folded.
//
// "Directly follows" is where the output of the layer goes to the batch norm and nowhere else: two
// consecutive children of a Sequential (zoo models included), or conv1 -> bn1 and conv2 -> bn2 of a
// BasicBlock (its projection shortcut is a Sequential). A batch norm that follows anything else
// (a pool, an activation, a sum) is left as it is, and so is a model without batch norm (0, nothing
// changes, bit for bit).
//
// Folding always uses the running statistics, whatever the mode: the folded model computes what
// the original computes in eval mode (in training mode the original would normalise with batch
// statistics and update its running ones; the folded model does neither). Fold a trained model
// before hardening or guarding it. ValueError, before anything changes, when a layer to fold into
// is range-guarded (its bounds would not cover the folded weights), when the channel counts of a
// pair differ, or when a batch norm's statistics or affine parameters are not finite or
// running_var + eps is not positive (naming the batch norm and the channel).
int64_t fold_batch_norm(Module& model);

// The Identity modules that stand where fold_batch_norm folded a batch norm (0 for a model never
// folded).
int64_t folded_batch_norms(const Module& model);

// Checkpoint metadata: {"batch_norm": "folded"} for a folded model, {} otherwise.
std::map<std::string, std::string> fold_metadata(const Module& model);

// What load_model does first, before clipping, guarding and loading the weights: with a
// "batch_norm" entry, fold_batch_norm (structure only; the weights are loaded after). FormatError
// naming `source` when the entry is not "folded", or the model has no batch norm to fold.
void apply_fold_metadata(Module& model, const std::map<std::string, std::string>& metadata,
                         const std::string& source);

}  // namespace proact::layers
