// A comparison split over machines: `proact reproduce --shard i/n --out-dir DIR_i` hardens every
// method as one run does (hardening is deterministic, so every shard hardens alike) and runs
// trials i, i+n, ... of each campaign; it writes DIR_i/shard.json, its manifest, instead of the
// results. `proact merge DIR_0 ... DIR_n-1 --out-dir OUT` joins them into the results.{md,csv,json,svg}
// and <method>.campaign.json one unsharded run writes, byte for byte.
//
//   write_shard_manifest(result, options);                        // DIR_i/shard.json
//   const MergedComparison merged = merge_comparison_shards({"out/shard-0", "out/shard-1"});
//   write_merged_comparison(merged, "out");
//
// The manifest holds what the result files need beyond the campaigns (the settings, each
// replicate's trained accuracy, each method's hardening report) and the checksums of the trained
// and hardened models, so a merge refuses shards that trained or hardened differently. The one
// figure that differs between shards is each method's hardening time: the merged files take shard
// 0's (with --no-times every shard writes null and the merge does too).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "proact/comparison.hpp"

namespace proact::method {

// The manifest's file name in a shard's --out-dir.
inline constexpr const char* kShardManifest = "shard.json";

// What shard.json holds: the result's settings and per-model figures, without the campaigns.
struct ShardManifest {
    faults::ShardSpec shard;
    int64_t trials = 0;        // per BER, of the whole campaign
    bool times = true;         // whether the hardening seconds were recorded (else written as 0)
    ComparisonResult result;   // every field but seconds and each method's campaign
};

std::string shard_manifest_json(const ShardManifest& manifest);
// The manifest in `text`. FormatError naming `source` and the field that is missing, of the wrong
// type or out of range; the file is untrusted (fuzz target shard_manifest).
ShardManifest parse_shard_manifest(std::string_view text, const std::string& source);

// Writes options.out_dir/shard.json for a run with options.campaign.shard = i/n.
void write_shard_manifest(const ComparisonResult& result, const ComparisonOptions& options);

struct MergedComparison {
    ComparisonResult result;                // every campaign merged over the shards
    bool times = true;                      // whether the shards recorded hardening times
    std::vector<std::string> sources;       // every file read (manifests and campaigns)
};

// Reads shard.json and the campaigns of every folder. ValueError naming the folders when they are
// not shards 0..n-1 of one comparison (an index missing or repeated) or differ in a setting (named,
// with both values), in a trained or hardened model (its checksum) or in a campaign
// (faults::merge_shards); FormatError or IoError naming a damaged or missing file.
MergedComparison merge_comparison_shards(const std::vector<std::string>& dirs);

// Every file the merged result is written to under out_dir: each replicate's campaigns, then results.*.
std::vector<std::string> merged_comparison_outputs(const MergedComparison& merged, const std::string& out_dir);
void write_merged_comparison(const MergedComparison& merged, const std::string& out_dir);

}  // namespace proact::method
