// What every hardening run shares, handed down once: the seed every random choice derives from
// (each component draws its own stream by purpose, core::Rng(seed, "proact-shuffle", ...), never by
// copying the seed into its own options) and whether progress bars are drawn. Progress lines for a
// log are a callback argument of the call that produces them, never a stored field.
#pragma once

#include <cstdint>

namespace proact::method {

struct RunSettings {
    uint64_t seed = 0;
    bool progress = true;
};

}  // namespace proact::method
