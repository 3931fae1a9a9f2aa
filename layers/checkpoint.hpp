// Checkpoints: a model's state_dict (parameters and buffers by full name) plus string metadata, in
// the safetensors format. A PyTorch state_dict saved with safetensors.torch.save_file loads here,
// and ours loads there with load_state_dict (num_batches_tracked comes back as float32, which
// PyTorch's copy_ converts to its int64).
//
//   save_checkpoint("lenet.safetensors", *model, {{"epochs", "10"}, {"lr", "0.01"}});
//   ModulePtr again = load_model("lenet.safetensors");   // rebuilt from the metadata, weights loaded
//
// Metadata written: "format" = "proact-checkpoint", "format_version" = "1", and for a zoo model
// (model_info() not null) "model", "input_shape", "num_classes", "init_seed"; then the caller's
// entries (training settings). A caller entry with the same key as a model entry must agree. A model
// with clipped activations also records "activation" (hybrid_clip.hpp), and load_model applies
// that configuration before loading the weights, so a hardened checkpoint loads like any other; a
// model with the weight range guard records "range_guard" (range_guard.hpp) the same way, and a
// model whose batch norms were folded into its convs records "batch_norm" = "folded"
// (fold_batchnorm.hpp). load_model re-applies them in the order they are made: fold, clip, guard.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "layers/module.hpp"

namespace proact::layers {

struct Checkpoint {
    std::map<std::string, Tensor> tensors;  // state_dict: full name -> value
    std::map<std::string, std::string> metadata;
};

// Writes the state_dict and metadata atomically (a failed save leaves any previous file at `path`
// untouched). ValueError if a caller's metadata entry contradicts the model's own; IoError if the
// file cannot be written.
void save_checkpoint(const std::string& path, const Module& model,
                     const std::map<std::string, std::string>& metadata = {});

// Reads tensors and metadata, whatever model they came from. IoError / FormatError from the reader
// (core/safetensors.hpp: the file is untrusted and checked as such).
Checkpoint load_checkpoint(const std::string& path);

// A tensor of a checkpoint holding values that are not finite.
struct NonFiniteTensor {
    std::string name;
    int64_t nan = 0;       // NaN elements
    int64_t infinite = 0;  // +Inf or -Inf elements
    int64_t count() const { return nan + infinite; }
};

// Every tensor with a NaN or an infinity, in name order; empty when all values are finite. A model
// loaded from such weights evaluates to garbage and a fault campaign on it measures nothing, so
// commands refuse it unless told otherwise (--allow-nonfinite); check_finite_weights is that check.
std::vector<NonFiniteTensor> non_finite_tensors(const Checkpoint& checkpoint);
// NumericError naming `source`, how many tensors are affected and the first few with their counts,
// when non_finite_tensors is not empty.
void check_finite_weights(const Checkpoint& checkpoint, const std::string& source);

// Copies `tensors` into `model`: strict — every parameter and buffer present with its shape, no
// unknown names — except that a missing "num_batches_tracked" buffer keeps the model's value
// (files written by other tools may leave it out). Nothing changes when it throws. `source` names
// the origin in error messages.
void load_weights(Module& model, const std::map<std::string, Tensor>& tensors,
                  const std::string& source = "checkpoint");

// Rebuilds a zoo model from the checkpoint's metadata ("model", "input_shape", "num_classes",
// "init_seed") with make_model, loads the weights with load_weights and returns it in evaluation
// mode. FormatError naming the missing or malformed metadata key (an unknown "batch_norm" value
// too, or a value of a key it interprets longer than kMaxMetadataValueBytes, zoo.hpp), or the
// threshold tensor that disagrees with the "activation" entry; ShapeError /
// ValueError naming the file and the tensor when the tensors do not fit the model.
ModulePtr load_model(const std::string& path);
// The same from a checkpoint already read; `source` names it in messages ("'model.safetensors'").
ModulePtr load_model(const Checkpoint& checkpoint, const std::string& source);

}  // namespace proact::layers
