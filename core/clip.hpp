// Clipped activations: a ReLU whose output is cut at a threshold b, the kernels under
// layers::ClippedReLU (ProAct, Ranger, FitAct; docs/METHOD.md "Clipped activation").
//
// x is viewed as (B, C, S): B samples, C channels, S positions per channel (H*W for a conv
// output, 1 for a linear one). The threshold is sized by its granularity:
//   layer    one scalar, [1]
//   channel  one per channel, [C], broadcast over B and S
//   neuron   one per element of a sample, [C*S], broadcast over B
//
// Modes (k = slope):
//   hard      y = x where 0 < x <= b, else 0                       (Ranger as the toolbox has it)
//   smooth    y = relu(x * (1 - sigmoid(k (x - b))))                 (ProAct, FitAct)
//   saturate  y = min(relu(x), b)                                    (the Ranger paper)
// A clip exists to stop corrupt values: a non-finite x (faults make +inf and NaN) comes out as 0,
// except +inf in saturate mode, which comes out as b. No mode ever returns NaN for a finite b.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace proact::core {

enum class ClipGranularity { layer, channel, neuron };
enum class ClipMode { hard, smooth, saturate };

// "layer" | "channel" | "neuron"; ValueError naming the text and the choices otherwise.
ClipGranularity parse_clip_granularity(std::string_view text);
const char* to_string(ClipGranularity granularity);
// "hard" | "smooth" | "saturate"; ValueError otherwise.
ClipMode parse_clip_mode(std::string_view text);
const char* to_string(ClipMode mode);

// The slope k of smooth mode must be finite and in (0, kMaxClipSlope]: beyond it the step is a
// jump and its gradient overflows.
constexpr float kMaxClipSlope = 1e4f;

struct ClipShape {
    int64_t batch = 0;     // B
    int64_t channels = 0;  // C
    int64_t spatial = 0;   // S
    ClipGranularity granularity = ClipGranularity::layer;
    // Elements of the threshold: 1, C or C*S.
    int64_t threshold_numel() const;
};

// x, y: (B, C, S); threshold sized as above. y may alias x.
void clip_forward(const float* x, const float* threshold, float* y, const ClipShape& shape, ClipMode mode,
                  float slope);

// clip_forward on the calling thread alone (elementwise: the same bits), for a caller inside a
// parallel region of its own (core/conv_epilogue.hpp, per image).
void clip_forward_serial(const float* x, const float* threshold, float* y, const ClipShape& shape, ClipMode mode,
                         float slope);

// dy, x: (B, C, S). dx (B, C, S) is written (not accumulated) when not null; dthreshold (sized as
// the threshold) is written when not null, each element a sum over its broadcast positions in a
// fixed order (a layer threshold: partial sums over fixed blocks of elements, added in order), in
// double, so the result does not depend on the thread count.
void clip_backward(const float* x, const float* threshold, const float* dy, float* dx, float* dthreshold,
                   const ClipShape& shape, ClipMode mode, float slope);

}  // namespace proact::core
