// layers: modules with named parameters, the building blocks of networks, the model zoo and
// checkpoints.
//
// A network is a tree of Modules. Each holds parameters (Variables that training updates), buffers
// (tensors it updates itself, e.g. BatchNorm's running statistics) and named children; full names
// follow PyTorch ("features.0.weight"), and layouts too (conv weights OIHW, linear [out, in]), so a
// PyTorch state_dict saved as safetensors loads here and ours loads there.
//
//   using namespace proact;
//   core::Rng rng(seed, "init");
//   auto net = std::make_shared<layers::Sequential>();
//   net->add(std::make_shared<layers::Conv2d>(1, 6, 5, rng, /*stride=*/1, /*padding=*/2));
//   net->add(std::make_shared<layers::ReLU>());
//   net->add(std::make_shared<layers::MaxPool2d>(2));
//   net->add(std::make_shared<layers::Flatten>());
//   net->add(std::make_shared<layers::Linear>(6 * 14 * 14, 10, rng));
//   autograd::Variable logits = (*net)(autograd::Variable(images));   // images (B, 1, 28, 28)
//   autograd::cross_entropy(logits, labels).backward();               // grads on net->parameters()
//
//   auto model = layers::make_model("resnet20", {3, 32, 32}, 10, seed);   // the zoo
//   model->eval();                                                        // running stats, no dropout
//   model->freeze("*");  model->unfreeze("linear.*");                     // glob patterns on names
//   layers::save_checkpoint("r20.safetensors", *model, {{"epochs", "200"}});
//   auto again = layers::load_model("r20.safetensors");
//   double accuracy = layers::evaluate(*again, test_images, test_labels).accuracy();
//
// Every activation is a ReLU child module, so hardening can find it (named_modules), watch it
// (add_forward_hook) and swap it for a clipped activation (replace_child).
#pragma once

#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/checkpoint.hpp"
#include "layers/clipped_relu.hpp"
#include "layers/conv.hpp"
#include "layers/dropout.hpp"
#include "layers/evaluate.hpp"
#include "layers/fold_batchnorm.hpp"
#include "layers/hybrid_clip.hpp"
#include "layers/linear.hpp"
#include "layers/module.hpp"
#include "layers/pooling.hpp"
#include "layers/range_guard.hpp"
#include "layers/resnet_block.hpp"
#include "layers/sequential.hpp"
#include "layers/stage_chain.hpp"
#include "layers/zoo.hpp"
