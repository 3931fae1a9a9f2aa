// One libFuzzer executable per entry point (entry_points.hpp): CMake compiles this file once per
// target with PROACT_FUZZ_TARGET set to its name. Built only with PROACT_FUZZ=ON (clang).
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz/entry_points.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const proact::fuzz::Target& target = proact::fuzz::target(PROACT_FUZZ_TARGET);
    target.run(std::span<const uint8_t>(data, size));
    return 0;
}
