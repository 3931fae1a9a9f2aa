#include "layers/dropout.hpp"

#include <sstream>

#include "autograd/ops.hpp"
#include "core/rng.hpp"

namespace proact::layers {

Dropout::Dropout(float probability, uint64_t seed) : probability_(probability), seed_(seed) {
    if (!(probability >= 0.0f && probability < 1.0f))
        core::fail<core::ValueError>("Dropout: probability must be in [0, 1), got ", probability);
}

Variable Dropout::forward(const Variable& input) {
    if (!is_training() || probability_ == 0.0f) return input;
    core::Rng rng(seed_, "dropout", calls_++);
    return autograd::dropout(input, probability_, true, rng);
}

std::string Dropout::describe() const {
    std::ostringstream out;
    out << "Dropout(p=" << probability_ << ")";
    return out.str();
}

}  // namespace proact::layers
