#include "faults/campaign_options.hpp"

#include <charconv>

#include "core/error.hpp"
#include "faults/bitflip.hpp"
#include "faults/injector.hpp"

namespace proact::faults {

using core::fail;
using core::ValueError;

std::vector<double> default_bers() { return {1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4}; }

std::vector<double> parse_ber_list(std::string_view text) {
    std::vector<double> bers;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        std::string item(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
        while (!item.empty() && item.front() == ' ') item.erase(item.begin());
        while (!item.empty() && item.back() == ' ') item.pop_back();
        double ber = 0.0;
        const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), ber);
        if (item.empty() || error != std::errc() || end != item.data() + item.size())
            fail<ValueError>("BER list '", text, "': '", item, "' is not a number (expected e.g. 1e-6,1e-5)");
        if (!(ber >= 0.0 && ber <= 1.0)) fail<ValueError>("BER ", item, " outside [0, 1]");
        bers.push_back(ber);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return bers;
}

ShardSpec parse_shard(std::string_view text) {
    const size_t slash = text.find('/');
    const auto number = [&](std::string_view digits, int& value) {
        const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        return !digits.empty() && error == std::errc() && end == digits.data() + digits.size();
    };
    ShardSpec shard;
    if (slash == std::string_view::npos || !number(text.substr(0, slash), shard.index) ||
        !number(text.substr(slash + 1), shard.count))
        fail<ValueError>("shard '", text, "': expected i/n with integers 0 <= i < n, e.g. 0/4");
    if (shard.count < 1) fail<ValueError>("shard '", text, "': shard count ", shard.count, " must be at least 1");
    if (shard.index < 0 || shard.index >= shard.count)
        fail<ValueError>("shard '", text, "': index ", shard.index, " must lie in 0..", shard.count - 1);
    return shard;
}

void check_batch_norm(std::string_view batch_norm) {
    for (std::string_view known : kBatchNormModes)
        if (batch_norm == known) return;
    fail<ValueError>("batch norm '", batch_norm, "': expected ", kBatchNormModes[0],
                     " (folded into the convolutions) or ", kBatchNormModes[1], " (kept as layers)");
}

void check_fault_site(std::string_view site) {
    for (std::string_view known : kFaultSites)
        if (site == known) return;
    fail<ValueError>("fault site '", site, "': expected weights, activations or both");
}

void validate_options(const CampaignOptions& options) {
    if (options.fault_model.is_exact()) {
        if (options.exact_counts.empty())
            fail<ValueError>("fault campaign: no fault counts given (expected at least one k)");
        for (int64_t count : options.exact_counts)
            if (count < 0) fail<ValueError>("fault campaign: fault count k = ", count, " is negative");
    } else {
        if (options.bers.empty()) fail<ValueError>("fault campaign: no BERs given (expected at least one)");
        for (double ber : options.bers)
            if (!(ber >= 0.0 && ber <= 1.0)) fail<ValueError>("BER ", ber, " outside [0, 1]");
    }
    if (options.trials < 1) fail<ValueError>("fault campaign: trials = ", options.trials, ", expected at least 1");
    if (options.shard.count < 1 || options.shard.index < 0 || options.shard.index >= options.shard.count)
        fail<ValueError>("fault campaign: shard ", options.shard.index, "/", options.shard.count,
                         ", expected i/n with 0 <= i < n");
    if (!(options.ci_margin >= 0.0))
        fail<ValueError>("fault campaign: CI margin ", options.ci_margin, " must be >= 0 (0: off)");
    if (options.min_trials < 2)
        fail<ValueError>("fault campaign: min_trials = ", options.min_trials,
                         ", expected at least 2 (a confidence interval needs two trials)");
    if (options.ci_margin > 0.0 && options.shard.count > 1)
        fail<ValueError>("fault campaign: --ci-margin cannot be combined with --shard ", options.shard.index, "/",
                         options.shard.count,
                         " (where a point stops depends on trials other shards run); use a fixed trial count");
    if (options.batch_size < 0)
        fail<ValueError>("fault campaign: batch size ", options.batch_size, ", expected at least 1 (0: automatic)");
    if (options.cache_budget_bytes < 0)
        fail<ValueError>("fault campaign: cache budget ", options.cache_budget_bytes, " bytes is negative");
    BitMask::parse(options.bit_mask, options.format);  // throws on a bad mask
    check_fault_purpose(options.purpose);
    check_batch_norm(options.batch_norm);
    check_fault_site(options.site);
    if (!options.activation_layers.empty() && options.site == kFaultSites[0])
        fail<ValueError>("fault campaign: activation layers are given but faults strike the weights only "
                         "(site activations or both)");
}

}  // namespace proact::faults
