// The entry points of the fuzz targets: one per reader of untrusted input, each taking the bytes of
// one input. The libFuzzer executables (fuzz_<name>.cpp) and the corpus regression test
// (corpus_test.cpp, in the normal and the sanitizer suite) call the same functions, so every file
// of fuzz/corpus/<name>/ is checked in both.
//
// Contract: an entry point returns normally when the input is accepted or refused with a
// core::Error (the documented way to refuse bad input). Any other exception escapes (libFuzzer
// reports it as a crash, the corpus test as a failure), and so does a std::logic_error thrown
// when an accepted input breaks a property that must hold (a round trip, a range).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace proact::fuzz {

struct Target {
    std::string name;  // also the corpus folder: fuzz/corpus/<name>/
    void (*run)(std::span<const uint8_t> bytes);
};

// safetensors, idx, idx_gzip, cifar, image, campaign_json, storage_format, ber_list, shard_manifest.
const std::vector<Target>& targets();
const Target& target(const std::string& name);  // std::invalid_argument for an unknown name

}  // namespace proact::fuzz
