#include "faults/campaign.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <set>
#include <sstream>
#include <tuple>
#include <typeinfo>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <omp.h>

#include "autograd/ops.hpp"
#include "autograd/variable.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "layers/activation.hpp"
#include "layers/clipped_relu.hpp"
#include "layers/conv.hpp"
#include "layers/dropout.hpp"
#include "layers/linear.hpp"
#include "layers/pooling.hpp"
#include "layers/range_guard.hpp"
#include "layers/sequential.hpp"
#include "layers/zoo.hpp"

namespace proact::faults {

using core::fail;
using core::ValueError;

// ---------------------------------------------------------------------------------------------
// Statistics.

namespace {

// Continued fraction of the regularised incomplete beta function (modified Lentz).
double beta_continued_fraction(double a, double b, double x) {
    constexpr double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (std::fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 500; ++m) {
        const double m2 = 2.0 * m;
        double numerator = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + numerator * d;
        c = 1.0 + numerator / c;
        if (std::fabs(d) < tiny) d = tiny;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        numerator = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + numerator * d;
        c = 1.0 + numerator / c;
        if (std::fabs(d) < tiny) d = tiny;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        const double step = d * c;
        h *= step;
        if (std::fabs(step - 1.0) < 1e-15) break;
    }
    return h;
}

// I_x(a, b).
double incomplete_beta(double a, double b, double x) {
    if (x <= 0.0) return 0.0;
    if (x >= 1.0) return 1.0;
    const double front =
        std::exp(a * std::log(x) + b * std::log1p(-x) - (std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b)));
    if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
    return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

double student_t_cdf(double t, double dof) {
    const double tail = 0.5 * incomplete_beta(dof / 2.0, 0.5, dof / (dof + t * t));
    return t > 0.0 ? 1.0 - tail : tail;
}

}  // namespace

double student_t_quantile(double probability, double dof) {
    if (!(probability > 0.0 && probability < 1.0))
        fail<ValueError>("student_t_quantile: probability ", probability, " outside (0, 1)");
    if (!(dof > 0.0)) fail<ValueError>("student_t_quantile: degrees of freedom ", dof, ", expected > 0");
    if (probability == 0.5) return 0.0;
    if (probability < 0.5) return -student_t_quantile(1.0 - probability, dof);
    double low = 0.0, high = 1.0;
    while (student_t_cdf(high, dof) < probability) {
        low = high;
        high *= 2.0;
        if (high > 1e300) return high;
    }
    for (int iteration = 0; iteration < 200 && high - low > 1e-14 * high; ++iteration) {
        const double middle = 0.5 * (low + high);
        (student_t_cdf(middle, dof) < probability ? low : high) = middle;
    }
    return 0.5 * (low + high);
}

AccuracyStats accuracy_stats(const std::vector<double>& accuracies) {
    if (accuracies.empty()) fail<ValueError>("accuracy_stats: no accuracies (expected at least one trial)");
    AccuracyStats stats;
    stats.trials = static_cast<int64_t>(accuracies.size());
    double sum = 0.0;
    stats.min = stats.max = accuracies[0];
    for (double accuracy : accuracies) {
        sum += accuracy;
        stats.min = std::min(stats.min, accuracy);
        stats.max = std::max(stats.max, accuracy);
    }
    const double n = static_cast<double>(accuracies.size());
    stats.mean = sum / n;
    if (accuracies.size() >= 2) {
        double squares = 0.0;
        for (double accuracy : accuracies) squares += (accuracy - stats.mean) * (accuracy - stats.mean);
        stats.std = std::sqrt(squares / (n - 1.0));
        stats.ci95_half_width = student_t_quantile(0.975, n - 1.0) * stats.std / std::sqrt(n);
    }
    return stats;
}

// ---------------------------------------------------------------------------------------------
// Options.

FaultKind parse_fault_kind(std::string_view text) {
    if (text == "ber" || text == "flip") return FaultKind::ber;
    if (text == "exact") return FaultKind::exact;
    if (text == "stuck0" || text == "stuck-at-0") return FaultKind::stuck_at_0;
    if (text == "stuck1" || text == "stuck-at-1") return FaultKind::stuck_at_1;
    fail<ValueError>("fault model '", text, "': expected ber, exact, stuck0 or stuck1");
}

const char* to_string(FaultKind kind) {
    switch (kind) {
        case FaultKind::ber: return "ber";
        case FaultKind::exact: return "exact";
        case FaultKind::stuck_at_0: return "stuck0";
        case FaultKind::stuck_at_1: return "stuck1";
    }
    return "?";
}

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

void validate_options(const CampaignOptions& options) {
    if (options.fault_kind == FaultKind::exact) {
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
}

// ---------------------------------------------------------------------------------------------
// Results.

double PointResult::mean_faults() const {
    if (faults.empty()) return 0.0;
    double total = 0.0;
    for (int64_t count : faults) total += static_cast<double>(count);
    return total / static_cast<double>(faults.size());
}

void recompute_stats(CampaignResult& result) {
    for (PointResult& point : result.points) {
        std::vector<double> accuracies;
        for (int64_t correct : point.correct) accuracies.push_back(result.accuracy(correct));
        point.stats = accuracies.empty() ? AccuracyStats{} : accuracy_stats(accuracies);
    }
}

CampaignResult merge_shards(const std::vector<CampaignResult>& shards) {
    if (shards.empty()) fail<ValueError>("merge: no shard results given");
    const CampaignResult& first = shards[0];
    const int count = first.shard.count;
    if (static_cast<int>(shards.size()) != count)
        fail<ValueError>("merge: the shards say the campaign has ", count, " shards, ", shards.size(), " given");
    if (first.ci_margin > 0.0) fail<ValueError>("merge: a campaign stopped by a CI margin cannot be sharded");
    std::vector<bool> seen(static_cast<size_t>(count), false);
    for (size_t s = 0; s < shards.size(); ++s) {
        const CampaignResult& shard = shards[s];
        const auto differ = [&](const char* what) {
            fail<ValueError>("merge: shard ", shard.shard.index, "/", shard.shard.count, " differs from shard ",
                             first.shard.index, "/", first.shard.count, " in its ", what,
                             "; only shards of one campaign can be merged");
        };
        if (shard.label != first.label) differ("label");
        if (shard.model != first.model) differ("model");
        if (shard.dataset != first.dataset) differ("dataset");
        if (shard.format != first.format) differ("format");
        if (shard.fault_kind != first.fault_kind) differ("fault model");
        if (shard.bit_mask != first.bit_mask) differ("bit mask");
        if (shard.patterns != first.patterns) differ("patterns");
        if (shard.targets != first.targets) differ("targets");
        if (shard.target_values != first.target_values) differ("target values");
        if (shard.seed != first.seed) differ("seed");
        if (shard.trials != first.trials) differ("trial count");
        if (shard.ci_margin != first.ci_margin || shard.min_trials != first.min_trials) differ("CI margin");
        if (shard.shard.count != count) differ("shard count");
        if (shard.samples != first.samples) differ("sample count");
        if (shard.fault_free_correct != first.fault_free_correct) differ("fault-free accuracy");
        if (shard.points.size() != first.points.size()) differ("number of rates");
        for (size_t p = 0; p < shard.points.size(); ++p)
            if (shard.points[p].rate != first.points[p].rate) differ("rates");
        const int index = shard.shard.index;
        if (index < 0 || index >= count) fail<ValueError>("merge: shard index ", index, " outside 0..", count - 1);
        if (seen[static_cast<size_t>(index)])
            fail<ValueError>("merge: shard ", index, "/", count, " given twice");
        seen[static_cast<size_t>(index)] = true;
    }
    CampaignResult merged = first;
    merged.shard = ShardSpec{};
    merged.seconds = 0.0;
    merged.trials_evaluated = merged.trials_reused = merged.cached_bytes = 0;
    merged.fault_log.clear();
    for (const CampaignResult& shard : shards) {
        merged.seconds += shard.seconds;
        merged.trials_evaluated += shard.trials_evaluated;
        merged.trials_reused += shard.trials_reused;
    }
    for (size_t p = 0; p < merged.points.size(); ++p) {
        std::vector<std::tuple<int64_t, int64_t, int64_t>> trials;  // (trial id, correct, faults)
        for (const CampaignResult& shard : shards) {
            const PointResult& point = shard.points[p];
            if (point.correct.size() != point.trial_ids.size() || point.faults.size() != point.trial_ids.size())
                fail<ValueError>("merge: shard ", shard.shard.index, " has ", point.trial_ids.size(), " trial ids, ",
                                 point.correct.size(), " counts and ", point.faults.size(), " fault counts at rate ",
                                 point.rate);
            for (size_t i = 0; i < point.trial_ids.size(); ++i)
                trials.emplace_back(point.trial_ids[i], point.correct[i], point.faults[i]);
        }
        std::sort(trials.begin(), trials.end());
        if (static_cast<int64_t>(trials.size()) != merged.trials)
            fail<ValueError>("merge: the shards hold ", trials.size(), " trials at rate ", merged.points[p].rate,
                             ", expected ", merged.trials);
        PointResult& point = merged.points[p];
        point.trial_ids.clear();
        point.correct.clear();
        point.faults.clear();
        point.stopped_early = false;
        for (size_t i = 0; i < trials.size(); ++i) {
            if (std::get<0>(trials[i]) != static_cast<int64_t>(i))
                fail<ValueError>("merge: trial ", i, " at rate ", point.rate, " is missing or repeated");
            point.trial_ids.push_back(std::get<0>(trials[i]));
            point.correct.push_back(std::get<1>(trials[i]));
            point.faults.push_back(std::get<2>(trials[i]));
        }
    }
    recompute_stats(merged);
    return merged;
}

// ---------------------------------------------------------------------------------------------
// The runner.

namespace {

// Sequential containers are opened up; a subclass that might override forward is one stage
// (layers::Model only adds its ModelInfo).
bool is_plain_sequential(const layers::Module& module) {
    return typeid(module) == typeid(layers::Sequential) || typeid(module) == typeid(layers::Model);
}

void expand_stages(const std::string& path, layers::Module& module, std::vector<Campaign::Stage>& stages) {
    if (is_plain_sequential(module)) {
        for (const auto& [name, child] : module.children())
            expand_stages(path.empty() ? name : path + "." + name, *child, stages);
        return;
    }
    stages.push_back({path, &module, false, false, false, 0});
}

bool owns(const std::string& stage_path, const std::string& module_path) {
    return stage_path.empty() || module_path == stage_path ||
           (module_path.size() > stage_path.size() && module_path.compare(0, stage_path.size(), stage_path) == 0 &&
            module_path[stage_path.size()] == '.');
}

// A stage that maps each channel (axis 1) of its input to the same channel of its output, on its
// own, whatever the number of channels: a channel subset can pass through it.
bool is_channel_wise(const layers::Module& module) {
    const std::type_info& type = typeid(module);
    // A one-value threshold treats every channel alike; wider ones would need slicing to the subset.
    if (type == typeid(layers::ClippedReLU))
        return static_cast<const layers::ClippedReLU&>(module).threshold().numel() == 1;
    return (type == typeid(layers::ReLU) || type == typeid(layers::MaxPool2d) || type == typeid(layers::AvgPool2d) ||
            type == typeid(layers::Dropout)) &&
           module.named_parameters().empty();
}

bool is_channel_sparse_kind(const layers::Module& module) {
    return typeid(module) == typeid(layers::Conv2d) || typeid(module) == typeid(layers::Linear);
}

// Puts the module in eval mode for a scope and restores its mode after.
struct EvalModeGuard {
    layers::Module& module;
    bool was_training;
    explicit EvalModeGuard(layers::Module& m) : module(m), was_training(m.is_training()) { module.eval(); }
    ~EvalModeGuard() { module.train(was_training); }
};

// Rows `rows` of `weight` (O, ...) as a new contiguous tensor (rows.size(), ...).
core::Tensor gather_rows(const core::Tensor& weight, const std::vector<int64_t>& rows) {
    core::Shape shape = weight.shape();
    const int64_t row_size = weight.numel() / shape[0];
    shape[0] = static_cast<int64_t>(rows.size());
    core::Tensor gathered = core::Tensor::empty(shape);
    const float* source = weight.data();
    float* destination = gathered.data();
    for (size_t i = 0; i < rows.size(); ++i)
        std::copy(source + rows[i] * row_size, source + (rows[i] + 1) * row_size,
                  destination + static_cast<int64_t>(i) * row_size);
    return gathered;
}

// Overwrites channels `channels` of `destination` (rows, C, ...) with `values` (rows, channels.size(),
// ...) and restores the old contents when it goes out of scope, however the scope ends.
class ChannelSplice {
public:
    ChannelSplice(core::Tensor destination, const core::Tensor& values, const std::vector<int64_t>& channels)
        : destination_(std::move(destination)), channels_(channels) {
        rows_ = destination_.size(0);
        channel_count_ = destination_.size(1);
        plane_ = destination_.numel() / (rows_ * channel_count_);
        if (values.dim() != destination_.dim() || values.size(0) != rows_ ||
            values.size(1) != static_cast<int64_t>(channels.size()) ||
            values.numel() != rows_ * static_cast<int64_t>(channels.size()) * plane_)
            fail<core::ShapeError>("fault campaign: channel outputs of shape ", core::shape_str(values.shape()),
                                   " do not fit the cached input of shape ", core::shape_str(destination_.shape()));
        const core::Tensor source = values.contiguous();
        saved_.resize(static_cast<size_t>(rows_) * channels.size() * static_cast<size_t>(plane_));
        float* base = destination_.data();
        const float* from = source.data();
        float* keep = saved_.data();
        for (int64_t row = 0; row < rows_; ++row)
            for (size_t j = 0; j < channels.size(); ++j) {
                float* target = base + (row * channel_count_ + channels[j]) * plane_;
                std::copy(target, target + plane_, keep);
                std::copy(from, from + plane_, target);
                keep += plane_;
                from += plane_;
            }
    }
    ~ChannelSplice() {
        float* base = destination_.data();
        const float* keep = saved_.data();
        for (int64_t row = 0; row < rows_; ++row)
            for (int64_t channel : channels_) {
                std::copy(keep, keep + plane_, base + (row * channel_count_ + channel) * plane_);
                keep += plane_;
            }
    }
    ChannelSplice(const ChannelSplice&) = delete;
    ChannelSplice& operator=(const ChannelSplice&) = delete;

private:
    core::Tensor destination_;
    std::vector<int64_t> channels_;
    int64_t rows_ = 0, channel_count_ = 0, plane_ = 0;
    std::vector<float> saved_;
};

// One step of the GEMM's per-element chain, as core/sgemm.cpp's microkernel does it: an FMA in its
// AVX-512 kernel, `acc += a * b` in its plain C one (contracted or not, as the compiler does there).
inline float multiply_add(float w, float x, float acc) {
#if defined(__AVX512F__)
    return std::fma(w, x, acc);
#else
    return acc + w * x;
#endif
}

#if defined(__AVX512F__)
// CH output channels of one image, stride 1, into total (CH, acc_size) at flat positions
// oh*PW + ow: 16*NV positions x CH channels in NV*CH registers, all taps of a K slice, each loaded
// input vector feeding CH FMAs. Per element the same operations in the same order as the
// reference loop of conv2d_channels.
template <int CH, int NV>
void direct_conv_block(const float* padded, const int64_t* offsets, int64_t K, int64_t slice,
                       const float* const* w_rows, int64_t acc_size, float* total) {
    constexpr int64_t width = 16 * NV;
    for (int64_t i0 = 0; i0 < acc_size; i0 += width) {
        const int64_t lanes = std::min<int64_t>(width, acc_size - i0);
        __mmask16 mask[NV];
        for (int v = 0; v < NV; ++v) {
            const int64_t left = std::clamp<int64_t>(lanes - 16 * v, 0, 16);
            mask[v] = left == 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1u);
        }
        for (int64_t k0 = 0; k0 < K; k0 += slice) {
            const int64_t k1 = std::min(K, k0 + slice);
            __m512 acc[CH][NV];
            {
                const float* src = padded + offsets[k0] + i0;
                __m512 x[NV];
                for (int v = 0; v < NV; ++v) x[v] = _mm512_maskz_loadu_ps(mask[v], src + 16 * v);
                for (int c = 0; c < CH; ++c) {
                    const __m512 w = _mm512_set1_ps(w_rows[c][k0]);
                    for (int v = 0; v < NV; ++v) acc[c][v] = _mm512_mul_ps(w, x[v]);
                }
            }
            for (int64_t k = k0 + 1; k < k1; ++k) {
                const float* src = padded + offsets[k] + i0;
                __m512 x[NV];
                for (int v = 0; v < NV; ++v) x[v] = _mm512_maskz_loadu_ps(mask[v], src + 16 * v);
                for (int c = 0; c < CH; ++c) {
                    const __m512 w = _mm512_set1_ps(w_rows[c][k]);
                    for (int v = 0; v < NV; ++v) acc[c][v] = _mm512_fmadd_ps(w, x[v], acc[c][v]);
                }
            }
            for (int c = 0; c < CH; ++c)
                for (int v = 0; v < NV; ++v) {
                    float* at = total + c * acc_size + i0 + 16 * v;
                    const __m512 sum =
                        k0 == 0 ? acc[c][v] : _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], at), acc[c][v]);
                    _mm512_mask_storeu_ps(at, mask[v], sum);
                }
        }
    }
}

using DirectConvBlock = void (*)(const float*, const int64_t*, int64_t, int64_t, const float* const*, int64_t, float*);

template <int CH>
constexpr DirectConvBlock direct_blocks_for_channels[4] = {direct_conv_block<CH, 1>, direct_conv_block<CH, 2>,
                                                           direct_conv_block<CH, 3>, direct_conv_block<CH, 4>};
constexpr const DirectConvBlock* direct_blocks[4] = {direct_blocks_for_channels<1>, direct_blocks_for_channels<2>,
                                                     direct_blocks_for_channels<3>, direct_blocks_for_channels<4>};

// Vectors per block (1..4) that pad `positions` least; ties go to the wider block.
int direct_block_vectors(int64_t positions) {
    int best = 4;
    int64_t best_cost = (positions + 63) / 64 * 4;
    for (int vectors = 3; vectors >= 1; --vectors) {
        const int64_t cost = (positions + 16 * vectors - 1) / (16 * vectors) * vectors;
        if (cost < best_cost) {
            best = vectors;
            best_cost = cost;
        }
    }
    return best;
}
#endif

// Output channels `channels` of a convolution, without im2col: what autograd::conv2d computes for
// them, element for element. conv2d is im2col + GEMM + bias, and the GEMM forms each output as
// one chain over k = (c*KH + kh)*KW + kw in slices of at most 384 k: a product for the first k of a
// slice, an FMA for each next one, slices added in order; conv2d then adds the bias (0 without).
// Padding is read as +0, as im2col writes it. A subset of 1..few channels costs a fraction of the
// whole layer, while im2col alone costs as much as the whole layer. The start-up probe compares
// this with the fault-free pass bit for bit and turns channel-sparse recomputation off for the
// stage if the GEMM ever sums differently.
//   x (B, C, H, W) contiguous, weight (O, C, KH, KW), bias (O) or undefined -> (B, S, OH, OW)
core::Tensor conv2d_channels(const core::Tensor& x, const core::Tensor& weight, const core::Tensor& bias,
                             int64_t stride, int64_t padding, const std::vector<int64_t>& channels) {
    const int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t KH = weight.size(2), KW = weight.size(3);
    const int64_t OH = (H + 2 * padding - KH) / stride + 1, OW = (W + 2 * padding - KW) / stride + 1;
    const int64_t PH = H + 2 * padding, PW = W + 2 * padding;
    const int64_t K = C * KH * KW, S = static_cast<int64_t>(channels.size());
    // The GEMM's K slices (core/sgemm.cpp slice_length): equal runs, multiples of 8, at most 384.
    const int64_t slices = (K + 383) / 384;
    const int64_t slice = std::min<int64_t>(384, ((K + slices - 1) / slices + 7) / 8 * 8);
    // Stride 1: output (oh, ow) accumulates at oh*PW + ow, so tap (c, kh, kw) is one contiguous
    // sweep of the padded planes shifted by (kh, kw); the columns ow >= OW are computed and
    // dropped, and the sweep ends at the last real output, (OH-1)*PW + OW - 1, so it never reads
    // past the planes. Other strides: row by row.
    const bool flat = stride == 1;
#if defined(__AVX512F__)
    const bool blocked = flat;  // the register-blocked kernel
    const int vectors = direct_block_vectors(flat ? (OH - 1) * PW + OW : 0);
#else
    const bool blocked = false;
#endif
    const int64_t acc_size = flat ? (OH - 1) * PW + OW : OH * OW;
    const bool copy = padding > 0;  // without padding the input planes are read in place
    core::Tensor out = core::Tensor::empty({B, S, OH, OW});
    const core::Tensor input = x.contiguous(), filters = weight.contiguous();
    const core::Tensor shifts = bias.defined() ? bias.contiguous() : core::Tensor();
    const float* x_data = input.data();
    const float* w_data = filters.data();
    const float* b_data = shifts.defined() ? shifts.data() : nullptr;
    float* out_data = out.data();
    std::vector<int64_t> offsets(static_cast<size_t>(K));  // tap k's shift in the padded planes
    for (int64_t k = 0; k < K; ++k)
        offsets[static_cast<size_t>(k)] = ((k / (KH * KW)) * PH + (k / KW) % KH) * PW + k % KW;
#pragma omp parallel
    {
        std::vector<float> padded_planes(copy ? static_cast<size_t>(C * PH * PW) : 0, 0.0f);  // borders stay +0
        std::vector<float> partial(static_cast<size_t>(acc_size));
        std::vector<float> total(static_cast<size_t>(S * acc_size));  // (S, acc_size)
#pragma omp for schedule(static)
        for (int64_t b = 0; b < B; ++b) {
            const float* image = x_data + b * C * H * W;
            if (copy)
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t h = 0; h < H; ++h) {
                        const float* from = image + (c * H + h) * W;
                        float* to = padded_planes.data() + (c * PH + h + padding) * PW + padding;
                        for (int64_t w = 0; w < W; ++w) to[w] = from[w];
                    }
            const float* padded = copy ? padded_planes.data() : image;
#if defined(__AVX512F__)
            if (blocked)
                for (int64_t j0 = 0; j0 < S; j0 += 4) {
                    const int64_t group = std::min<int64_t>(4, S - j0);
                    const float* w_rows[4] = {};
                    for (int64_t c = 0; c < group; ++c) w_rows[c] = w_data + channels[static_cast<size_t>(j0 + c)] * K;
                    direct_blocks[group - 1][vectors - 1](padded, offsets.data(), K, slice, w_rows, acc_size,
                                                          total.data() + j0 * acc_size);
                }
#endif
            for (int64_t j = 0; j < S; ++j) {
                float* channel_total = total.data() + j * acc_size;
                if (!blocked) {
                    // The reference loop: a product for the first tap of a slice, FMAs after it.
                    const float* w_row = w_data + channels[static_cast<size_t>(j)] * K;
                    float* __restrict acc = partial.data();
                    for (int64_t k0 = 0; k0 < K; k0 += slice) {
                        const int64_t k1 = std::min(K, k0 + slice);
                        for (int64_t k = k0; k < k1; ++k) {
                            const float w = w_row[k];
                            if (flat) {
                                const float* __restrict src = padded + offsets[static_cast<size_t>(k)];
                                if (k == k0) {
                                    for (int64_t i = 0; i < acc_size; ++i) acc[i] = w * src[i];
                                } else {
                                    for (int64_t i = 0; i < acc_size; ++i) acc[i] = multiply_add(w, src[i], acc[i]);
                                }
                                continue;
                            }
                            const int64_t c = k / (KH * KW), kh = (k / KW) % KH, kw = k % KW;
                            for (int64_t oh = 0; oh < OH; ++oh) {
                                const float* src = padded + (c * PH + oh * stride + kh) * PW + kw;
                                float* dst = acc + oh * OW;
                                for (int64_t ow = 0; ow < OW; ++ow)
                                    dst[ow] = k == k0 ? w * src[ow * stride] : multiply_add(w, src[ow * stride], dst[ow]);
                            }
                        }
                        if (k0 == 0)
                            std::copy(acc, acc + acc_size, channel_total);
                        else
                            for (int64_t i = 0; i < acc_size; ++i) channel_total[i] += acc[i];
                    }
                }
                const float shift = b_data ? b_data[channels[static_cast<size_t>(j)]] : 0.0f;
                float* dst = out_data + (b * S + j) * OH * OW;
                const int64_t row_step = flat ? PW : OW;
                for (int64_t oh = 0; oh < OH; ++oh)
                    for (int64_t ow = 0; ow < OW; ++ow) dst[oh * OW + ow] = channel_total[oh * row_step + ow] + shift;
            }
        }
    }
    return out;
}

bool same_bits(const float* a, const float* b, int64_t count) {
    return std::memcmp(a, b, static_cast<size_t>(count) * sizeof(float)) == 0;
}

// Largest activation of one batch under automatic batching.
constexpr int64_t kAutoBatchBytes = int64_t(128) << 20;

}  // namespace

Campaign::Campaign(layers::Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                   CampaignOptions options)
    : model_(model), images_(images), labels_(labels), options_(std::move(options)) {
    const auto start_time = std::chrono::steady_clock::now();
    validate_options(options_);
    if (images_.dim() < 1 || images_.size(0) != static_cast<int64_t>(labels_.size()))
        fail<core::ShapeError>("fault campaign: ", images_.dim() ? images_.size(0) : 0, " inputs but ",
                               labels_.size(), " labels");
    if (labels_.empty()) fail<ValueError>("fault campaign: the evaluation set is empty (expected at least 1 sample)");
    mask_ = BitMask::parse(options_.bit_mask, options_.format);
    targets_ = select_targets(model_, options_.patterns, options_.fault_thresholds);
    check_quantized(targets_, options_.format);
    if (options_.fault_kind == FaultKind::exact) {
        const int64_t most = *std::max_element(options_.exact_counts.begin(), options_.exact_counts.end());
        for (const FaultTarget& target : targets_)
            if (most > target.numel() * mask_.count())
                fail<ValueError>("fault campaign: k = ", most, " faults per tensor, but ", target.name, " has only ",
                                 target.numel() * mask_.count(), " bits the mask allows");
    }

    expand_stages("", model_, stages_);
    if (stages_.empty()) fail<ValueError>("fault campaign: the model is an empty Sequential");
    for (const FaultTarget& target : targets_) {
        int stage = 0;
        for (size_t s = 0; s < stages_.size(); ++s)
            if (owns(stages_[s].path, target.module_path)) {
                stage = static_cast<int>(s);
                break;
            }
        stage_of_target_.push_back(stage);
        stages_[static_cast<size_t>(stage)].owns_targets = true;
    }

    was_training_ = model_.is_training();
    model_.eval();
    try {
        autograd::NoGradGuard no_grad;
        // The input shape of every stage (and of the logits), from one sample.
        std::vector<core::Shape> sample_shapes(stages_.size() + 1);
        std::vector<int64_t> sample_values(stages_.size() + 1, 0);
        {
            autograd::Variable x(images_.slice(0, 1));
            for (size_t s = 0; s <= stages_.size(); ++s) {
                sample_shapes[s] = x.shape();
                sample_values[s] = x.numel();
                if (s < stages_.size()) x = (*stages_[s].module)(x);
            }
        }
        const int64_t count = images_.size(0);
        batch_size_ = options_.batch_size;
        if (batch_size_ == 0) {
            const int64_t widest = *std::max_element(sample_values.begin(), sample_values.end());
            const int64_t largest = std::max<int64_t>(1, kAutoBatchBytes / (widest * int64_t(sizeof(float))));
            const int64_t batches = (count + largest - 1) / largest;
            batch_size_ = (count + batches - 1) / batches;
        }
        choose_cache(sample_shapes);
        fill_cache();
        if (options_.stage_cache && options_.channel_sparse) probe_channel_sparse();
    } catch (...) {
        model_.train(was_training_);
        throw;
    }
    setup_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
}

Campaign::~Campaign() { model_.train(was_training_); }

void Campaign::choose_cache(const std::vector<core::Shape>& sample_shapes) {
    stage_inputs_.assign(stages_.size() + 1, core::Tensor());
    if (!options_.stage_cache) return;
    // Worth keeping: the inputs of stages that own targets (restart points) and, for each Conv2d or
    // Linear among them, the input of the first stage after its channel-wise tail (splice point).
    const size_t end = stages_.size();
    std::vector<bool> wanted(end + 1, false);
    for (size_t s = 0; s < end; ++s) {
        Stage& stage = stages_[s];
        if (!stage.owns_targets) continue;
        if (s > 0) wanted[s] = true;
        if (options_.channel_sparse && is_channel_sparse_kind(*stage.module)) {
            size_t splice = s + 1;
            while (splice < end && is_channel_wise(*stages_[splice].module)) ++splice;
            stage.splice_stage = splice;
            wanted[splice] = true;
        }
    }
    // Later points first: they are smaller, and the ones most trials start from.
    int64_t budget = options_.cache_budget_bytes;
    const int64_t count = images_.size(0);
    std::vector<bool> cached(end + 1, false);
    for (size_t s = end + 1; s-- > 1;) {
        if (!wanted[s]) continue;
        const int64_t bytes = core::numel_of(sample_shapes[s]) * count * static_cast<int64_t>(sizeof(float));
        if (bytes > budget) continue;
        budget -= bytes;
        cached[s] = true;
    }
    for (size_t s = 0; s < end; ++s) stages_[s].cached = cached[s];
    logits_cached_ = cached[end];
    for (size_t s = 1; s <= end; ++s)
        if (cached[s]) {
            core::Shape shape = sample_shapes[s];
            shape[0] = count;
            stage_inputs_[s] = core::Tensor::empty(shape);
        }
    for (Stage& stage : stages_)
        if (stage.splice_stage != 0 && !cached[stage.splice_stage]) stage.splice_stage = 0;
}

void Campaign::fill_cache() {
    // The fault-free pass, with the same batches every trial uses.
    const size_t end = stages_.size();
    fault_free_correct_ = for_each_batch([&](int64_t start, int64_t stop) {
        autograd::Variable x(images_.slice(start, stop));
        for (size_t s = 0; s < end; ++s) {
            if (stages_[s].cached) stage_inputs_[s].slice(start, stop).copy_(x.value());
            x = (*stages_[s].module)(x);
        }
        if (logits_cached_) stage_inputs_[end].slice(start, stop).copy_(x.value());
        return tally(x.value(), start);
    });
}

int64_t Campaign::for_each_batch(const std::function<int64_t(int64_t, int64_t)>& count_batch) {
    // Batches are fixed by the batch size alone and each is computed whole by one thread, its
    // kernels then single-threaded (they are thread-count invariant), so the sums do not depend on
    // the number of threads. One parallel region per pass instead of one per kernel call.
    const int64_t count = images_.size(0);
    const int64_t batches = (count + batch_size_ - 1) / batch_size_;
    std::vector<int64_t> correct(static_cast<size_t>(batches), 0);
    std::exception_ptr error;
    const int threads = static_cast<int>(std::min<int64_t>(batches, omp_get_max_threads()));
#pragma omp parallel for schedule(dynamic) num_threads(threads) if (threads > 1)
    for (int64_t batch = 0; batch < batches; ++batch) {
        try {
            autograd::NoGradGuard no_grad;  // per thread
            const int64_t start = batch * batch_size_;
            correct[static_cast<size_t>(batch)] = count_batch(start, std::min(count, start + batch_size_));
        } catch (...) {
#pragma omp critical(proact_faults_batch_error)
            if (!error) error = std::current_exception();
        }
    }
    if (error) std::rethrow_exception(error);
    int64_t total = 0;
    for (int64_t value : correct) total += value;
    return total;
}

void Campaign::probe_channel_sparse() {
    // For every Conv2d / Linear stage with a cached splice point: recompute a few channel subsets
    // for the first batch and compare them bit for bit with the fault-free pass. Any difference (a
    // kernel whose arithmetic depends on the number of output channels) leaves the stage on full
    // recomputation by its own module.
    const int64_t stop = std::min(images_.size(0), batch_size_);
    for (size_t s = 0; s < stages_.size(); ++s) {
        Stage& stage = stages_[s];
        if (!stage.owns_targets || stage.splice_stage == 0 || !is_channel_sparse_kind(*stage.module)) continue;
        const core::Tensor& reference = stage_inputs_[stage.splice_stage];
        const int64_t channels = reference.dim() >= 2 ? reference.size(1) : 0;
        const int64_t outputs = stage.module->named_parameters().front().second.size(0);
        if (channels != outputs || channels < 2) continue;
        // One channel, the last one, a strided run of up to 9, and all of them (how run_stage reruns
        // a whole Conv2d): every register-block width the kernels use.
        std::vector<std::vector<int64_t>> subsets = {{0}, {channels - 1}};
        std::vector<int64_t> strided, all;
        for (int64_t c = 1; c < channels && strided.size() < 9; c += 2) strided.push_back(c);
        for (int64_t c = 0; c < channels; ++c) all.push_back(c);
        subsets.push_back(strided);
        subsets.push_back(all);
        const autograd::Variable input = stage_input(s, 0, stop);
        const core::Tensor expected = reference.slice(0, stop);
        const int64_t plane = expected.numel() / (stop * channels);
        bool identical = true;
        for (const std::vector<int64_t>& subset : subsets) {
            core::Tensor values;
            try {
                values = channel_outputs(s, input, subset).contiguous();
            } catch (const core::Error&) {
                identical = false;
                break;
            }
            if (values.numel() != stop * static_cast<int64_t>(subset.size()) * plane) {
                identical = false;
                break;
            }
            for (int64_t row = 0; row < stop && identical; ++row)
                for (size_t j = 0; j < subset.size() && identical; ++j)
                    identical = same_bits(values.data() + (row * static_cast<int64_t>(subset.size()) + j) * plane,
                                          expected.data() + (row * channels + subset[j]) * plane, plane);
            if (!identical) break;
        }
        stage.channel_sparse = identical;
    }
}

autograd::Variable Campaign::stage_input(size_t stage, int64_t start, int64_t stop) {
    size_t from = stage;
    while (from > 0 && !stages_[from].cached) --from;
    autograd::Variable x((from == 0 ? images_ : stage_inputs_[from]).slice(start, stop));
    for (size_t s = from; s < stage; ++s) x = run_stage(s, x);
    return x;
}

autograd::Variable Campaign::run_stage(size_t stage, const autograd::Variable& x) {
    const Stage& entry = stages_[stage];
    if (entry.channel_sparse && x.dim() == 4)
        if (auto* conv = dynamic_cast<layers::Conv2d*>(entry.module); conv && x.size(1) == conv->in_channels()) {
            std::vector<int64_t> all(static_cast<size_t>(conv->out_channels()));
            for (size_t c = 0; c < all.size(); ++c) all[c] = static_cast<int64_t>(c);
            return autograd::Variable(conv2d_channels(x.value(), conv->effective_weight(), conv->effective_bias(),
                                                      conv->stride(), conv->padding(), all));
        }
    return (*entry.module)(x);
}

core::Tensor Campaign::channel_outputs(size_t stage, const autograd::Variable& input,
                                       const std::vector<int64_t>& channels) {
    layers::Module& module = *stages_[stage].module;
    autograd::Variable y;
    if (auto* conv = dynamic_cast<layers::Conv2d*>(&module)) {
        if (input.dim() != 4 || input.size(1) != conv->in_channels())
            fail<core::ShapeError>("fault campaign: stage ", stages_[stage].path, " got input ",
                                   core::shape_str(input.shape()), ", expected (batch, ", conv->in_channels(),
                                   ", height, width)");
        y = autograd::Variable(conv2d_channels(input.value(), conv->effective_weight(), conv->effective_bias(),
                                               conv->stride(), conv->padding(), channels));
    } else if (auto* linear = dynamic_cast<layers::Linear*>(&module)) {
        // effective_*: the range guard's filtered values when the layer is guarded.
        const autograd::Variable weight(gather_rows(linear->effective_weight(), channels));
        const autograd::Variable bias = linear->bias().defined()
                                            ? autograd::Variable(gather_rows(linear->effective_bias(), channels))
                                            : autograd::Variable();
        y = autograd::linear(input, weight, bias);
    } else {
        fail<ValueError>("fault campaign: stage ", stages_[stage].path, " is not a Conv2d or Linear");
    }
    for (size_t s = stage + 1; s < stages_[stage].splice_stage; ++s) y = (*stages_[s].module)(y);
    return y.value();
}

size_t Campaign::point_count() const {
    return options_.fault_kind == FaultKind::exact ? options_.exact_counts.size() : options_.bers.size();
}

double Campaign::point_rate(size_t point) const {
    if (point >= point_count()) fail<core::IndexError>("fault campaign: point ", point, " outside 0..", point_count() - 1);
    return options_.fault_kind == FaultKind::exact ? static_cast<double>(options_.exact_counts[point])
                                                   : options_.bers[point];
}

FaultModel Campaign::fault_model(size_t point) const {
    const double rate = point_rate(point);
    switch (options_.fault_kind) {
        case FaultKind::ber: return FaultModel::bit_error_rate(rate, mask_);
        case FaultKind::exact: return FaultModel::exact(options_.exact_counts[point], mask_);
        case FaultKind::stuck_at_0: return FaultModel::stuck_at(0, rate, mask_);
        case FaultKind::stuck_at_1: return FaultModel::stuck_at(1, rate, mask_);
    }
    return FaultModel::bit_error_rate(rate, mask_);
}

int64_t Campaign::cached_bytes() const {
    int64_t bytes = 0;
    for (const core::Tensor& input : stage_inputs_)
        if (input.defined()) bytes += input.numel() * static_cast<int64_t>(sizeof(float));
    return bytes;
}

int64_t Campaign::tally(const core::Tensor& output, int64_t start) {
    const core::Tensor logits = output.contiguous();
    if (logits.dim() != 2)
        fail<core::ShapeError>("fault campaign: model output has shape ", core::shape_str(logits.shape()),
                               ", expected (batch, classes)");
    const int64_t rows = logits.size(0), classes = logits.size(1);
    const float* values = logits.data();
    int64_t correct = 0;
    for (int64_t i = 0; i < rows; ++i) {
        const float* row = values + i * classes;
        const int32_t label = labels_[static_cast<size_t>(start + i)];
        if (label < 0 || label >= classes)
            fail<ValueError>("fault campaign: label ", label, " of sample ", start + i, " outside [0, ", classes, ")");
        int64_t best = 0;  // first maximum, as layers::evaluate picks it
        for (int64_t k = 1; k < classes; ++k)
            if (row[k] > row[best]) best = k;
        correct += best == label;
    }
    return correct;
}

int64_t Campaign::count_correct(size_t start_stage) {
    EvalModeGuard eval_mode(model_);
    const size_t start = std::min(start_stage, stages_.size() - 1);
    return for_each_batch([&](int64_t first, int64_t stop) {
        autograd::Variable x = stage_input(start, first, stop);
        for (size_t s = start; s < stages_.size(); ++s) x = run_stage(s, x);
        return tally(x.value(), first);
    });
}

int64_t Campaign::count_correct_sparse(size_t stage, const std::vector<int64_t>& channels) {
    EvalModeGuard eval_mode(model_);
    const size_t splice = stages_[stage].splice_stage;
    // Each batch writes its channels over its own rows of the cached input and puts them back.
    return for_each_batch([&](int64_t first, int64_t stop) {
        const core::Tensor values = channel_outputs(stage, stage_input(stage, first, stop), channels);
        ChannelSplice splice_guard(stage_inputs_[splice].slice(first, stop), values, channels);
        autograd::Variable x(stage_inputs_[splice].slice(first, stop));
        for (size_t s = splice; s < stages_.size(); ++s) x = run_stage(s, x);
        return tally(x.value(), first);
    });
}

TrialOutcome Campaign::run_trial(size_t point, int64_t trial, std::vector<FaultLogEntry>* log) {
    if (trial < 0) fail<ValueError>("fault campaign: trial ", trial, " is negative");
    const FaultMap map = draw_fault_map(targets_, fault_model(point), options_.format, options_.seed, trial);
    TrialOutcome outcome;
    outcome.faults = map.size();
    ScopedFaults faults(targets_, map, options_.format);
    if (log) append_fault_log(*log, trial, point_rate(point), targets_, faults.log(), options_.format);
    size_t first = stages_.size();
    for (const TensorLog& tensor : faults.log())
        for (const FaultRecord& record : tensor.records)
            if (record.changed()) {
                first = std::min(first, static_cast<size_t>(stage_of_target_[tensor.target]));
                break;
            }
    if (first < stages_.size()) outcome.first_stage = static_cast<int>(first);
    if (first == stages_.size() && options_.reuse_fault_free) {
        outcome.correct = fault_free_correct_;
        outcome.reused = true;
        return outcome;
    }
    if (!options_.stage_cache) {
        // The reference: the whole model through its own modules (no stage is channel-sparse then).
        outcome.correct = count_correct(0);
        return outcome;
    }
    // A changed threshold between the restart and the splice touches every channel: no sparse path.
    bool later_change_before_splice = false;
    if (first < stages_.size() && stages_[first].channel_sparse)
        for (const TensorLog& tensor : faults.log()) {
            const size_t stage = static_cast<size_t>(stage_of_target_[tensor.target]);
            if (stage > first && stage < stages_[first].splice_stage)
                for (const FaultRecord& record : tensor.records) later_change_before_splice |= record.changed();
        }
    if (first < stages_.size() && stages_[first].channel_sparse && !later_change_before_splice) {
        // The output channels whose weights or bias changed: row `element / (numel / O)` of a
        // weight (O, ...) or bias (O).
        std::set<int64_t> rows;
        bool first_is_whole = false;
        for (const TensorLog& tensor : faults.log()) {
            if (static_cast<size_t>(stage_of_target_[tensor.target]) != first) continue;
            const core::Tensor& value = targets_[tensor.target].parameter.value();
            const int64_t row_size = value.numel() / value.size(0);
            // A changed range-guard bound filters every row of its tensor: the stage is rerun whole.
            const bool bounds = layers::is_bounds_parameter(targets_[tensor.target].name);
            for (const FaultRecord& record : tensor.records)
                if (record.changed()) {
                    if (bounds) first_is_whole = true;
                    rows.insert(record.element / row_size);
                }
        }
        const int64_t outputs = stages_[first].module->named_parameters().front().second.size(0);
        if (!first_is_whole && static_cast<int64_t>(rows.size()) < outputs) {
            const std::vector<int64_t> channels(rows.begin(), rows.end());
            outcome.channels = static_cast<int64_t>(channels.size());
            outcome.correct = count_correct_sparse(first, channels);
            return outcome;
        }
    }
    outcome.correct = count_correct(first);
    return outcome;
}

CampaignResult Campaign::run() {
    const auto start_time = std::chrono::steady_clock::now();
    CampaignResult result;
    result.model = options_.model_name;
    result.dataset = options_.dataset_name;
    result.format = options_.format.to_string();
    result.label = !options_.label.empty() ? options_.label
                                           : (result.model.empty() ? std::string("model") : result.model) + " " +
                                                 result.format;
    result.fault_kind = to_string(options_.fault_kind);
    result.bit_mask = mask_.to_string();
    result.patterns = options_.patterns;
    for (const FaultTarget& target : targets_) result.targets.push_back(target.name);
    result.target_values = target_values(targets_);
    result.seed = options_.seed;
    result.trials = options_.trials;
    result.ci_margin = options_.ci_margin;
    result.min_trials = options_.min_trials;
    result.shard = options_.shard;
    result.samples = images_.size(0);
    result.fault_free_correct = fault_free_correct_;
    result.cached_bytes = cached_bytes();
    result.batch_size = batch_size_;
    result.setup_seconds = setup_seconds_;

    const int64_t shard_trials =
        (options_.trials - options_.shard.index + options_.shard.count - 1) / options_.shard.count;
    const int64_t total = shard_trials * static_cast<int64_t>(point_count());
    core::ProgressBar bar("inject", total, options_.progress);
    bar.set_unit("trials/s");
    int64_t done = 0;
    std::vector<FaultLogEntry>* log = options_.log_faults ? &result.fault_log : nullptr;
    for (size_t p = 0; p < point_count(); ++p) {
        const auto point_start = std::chrono::steady_clock::now();
        PointResult point;
        point.rate = point_rate(p);
        std::vector<double> accuracies;
        char status[96];
        for (int64_t trial = options_.shard.index; trial < options_.trials; trial += options_.shard.count) {
            const TrialOutcome outcome = run_trial(p, trial, log);
            point.trial_ids.push_back(trial);
            point.correct.push_back(outcome.correct);
            point.faults.push_back(outcome.faults);
            accuracies.push_back(result.accuracy(outcome.correct));
            (outcome.reused ? result.trials_reused : result.trials_evaluated) += 1;
            ++done;
            double sum = 0.0;
            for (double accuracy : accuracies) sum += accuracy;
            std::snprintf(status, sizeof status, "%s %g  mean %.2f%%", result.is_exact() ? "k" : "BER", point.rate,
                          sum / static_cast<double>(accuracies.size()));
            bar.update(done, done, status);
            if (options_.ci_margin > 0.0 && static_cast<int64_t>(accuracies.size()) >= options_.min_trials &&
                accuracy_stats(accuracies).ci95_half_width <= options_.ci_margin) {
                point.stopped_early = trial + options_.shard.count < options_.trials;
                break;
            }
        }
        point.stats = accuracy_stats(accuracies);
        point.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - point_start).count();
        done = shard_trials * static_cast<int64_t>(p + 1);
        result.points.push_back(std::move(point));
    }
    bar.finish();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
    return result;
}

CampaignResult run_campaign(layers::Module& model, const core::Tensor& images, const std::vector<int32_t>& labels,
                            const CampaignOptions& options) {
    Campaign campaign(model, images, labels, options);
    CampaignResult result = campaign.run();
    result.seconds += campaign.setup_seconds();
    return result;
}

}  // namespace proact::faults
