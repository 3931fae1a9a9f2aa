// BasicBlock: the residual block of the CIFAR ResNets (He et al. 2016, section 4.2).
//
//   x ─ conv1 (3x3, stride) ─ bn1 ─ relu1 ─ conv2 (3x3) ─ bn2 ─ (+) ─ relu2 ─ out
//   └──────────────────── shortcut ─────────────────────────────┘
//
// The shortcut is the identity when the shape is unchanged, else "option B": a 1x1 convolution
// with the block's stride followed by batch norm, the child Sequential "shortcut" ("shortcut.0",
// "shortcut.1"). Convolutions have no bias (batch norm follows each). The two activations are ReLU
// child modules "relu1" and "relu2" so hardening can find and replace them.
#pragma once

#include "core/rng.hpp"
#include "layers/module.hpp"

namespace proact::layers {

class BasicBlock : public Module {
public:
    BasicBlock(int64_t in_channels, int64_t out_channels, int64_t stride, core::Rng& rng);

    // x (B, in_channels, H, W) -> (B, out_channels, OH, OW), OH = (H - 1) / stride + 1.
    Variable forward(const Variable& input) override;
    std::string type_name() const override { return "BasicBlock"; }
    std::string describe() const override;

    bool has_projection_shortcut() const { return projection_; }

private:
    int64_t in_channels_, out_channels_, stride_;
    bool projection_;
};

}  // namespace proact::layers
