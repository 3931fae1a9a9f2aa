#include "layers/fold_batchnorm.hpp"

#include <cmath>
#include <vector>

#include "layers/activation.hpp"
#include "layers/batchnorm.hpp"
#include "layers/conv.hpp"
#include "layers/linear.hpp"
#include "layers/resnet_block.hpp"
#include "layers/sequential.hpp"

namespace proact::layers {

using core::fail;

namespace {

constexpr const char* kFoldKey = "batch_norm";
constexpr const char* kFoldValue = "folded";

std::string join_path(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
}

// A batch norm to fold: where it sits and the layer it folds into (exactly one of conv, linear).
struct FoldSite {
    Module* parent = nullptr;
    std::string name;  // the batch norm's child name in parent
    std::string path;  // its full dotted path, for messages
    BatchNorm* batch_norm = nullptr;
    Conv2d* conv = nullptr;
    Linear* linear = nullptr;
};

// The (layer, batch norm) child-name pairs of `module` where the layer's output goes to the batch
// norm and nowhere else: consecutive children of a Sequential (a zoo Model is one), the two
// conv -> bn pairs of a BasicBlock (see its forward). Any other module's forward is unknown here.
std::vector<std::pair<std::string, std::string>> feeding_pairs(const Module& module) {
    std::vector<std::pair<std::string, std::string>> pairs;
    if (dynamic_cast<const Sequential*>(&module)) {
        const auto& children = module.children();
        for (size_t i = 0; i + 1 < children.size(); ++i) pairs.emplace_back(children[i].first, children[i + 1].first);
    } else if (dynamic_cast<const BasicBlock*>(&module)) {
        pairs = {{"conv1", "bn1"}, {"conv2", "bn2"}};
    }
    return pairs;
}

// Every foldable pair below `module`, depth first in registration order.
void collect_sites(Module& module, const std::string& path, std::vector<FoldSite>& sites) {
    for (const auto& [layer_name, bn_name] : feeding_pairs(module)) {
        Module& layer = *module.child(layer_name);
        Module& next = *module.child(bn_name);
        FoldSite site{&module, bn_name, join_path(path, bn_name), dynamic_cast<BatchNorm*>(&next), nullptr, nullptr};
        if (dynamic_cast<BatchNorm2d*>(&next)) site.conv = dynamic_cast<Conv2d*>(&layer);
        else if (dynamic_cast<BatchNorm1d*>(&next)) site.linear = dynamic_cast<Linear*>(&layer);
        if (site.conv || site.linear) sites.push_back(site);
    }
    for (const auto& [name, child] : module.children()) collect_sites(*child, join_path(path, name), sites);
}

// A batch norm's per-channel values (C each), as the floats it holds.
struct Statistics {
    std::vector<float> gamma, beta, mean, var;
    double eps = 0.0;
};

Statistics statistics_of(const BatchNorm& batch_norm) {
    const std::map<std::string, Tensor> state = batch_norm.state_dict();
    return {state.at("weight").to_vector(), state.at("bias").to_vector(), state.at("running_mean").to_vector(),
            state.at("running_var").to_vector(), static_cast<double>(batch_norm.eps())};
}

// ValueError naming the batch norm when the site cannot be folded; changes nothing.
void check_site(const FoldSite& site) {
    const std::string layer_type = site.conv ? "Conv2d" : "Linear";
    const bool guarded = site.conv ? site.conv->range_guarded() : site.linear->range_guarded();
    if (guarded)
        fail<core::ValueError>("fold_batch_norm: the ", layer_type, " before ", site.path,
                               " is range-guarded; fold before guarding");
    const int64_t outputs = site.conv ? site.conv->out_channels() : site.linear->out_features();
    if (outputs != site.batch_norm->num_features())
        fail<core::ValueError>("fold_batch_norm: ", site.path, " normalises ", site.batch_norm->num_features(),
                               " channels, the ", layer_type, " before it puts out ", outputs);
    const Statistics stats = statistics_of(*site.batch_norm);
    for (size_t c = 0; c < stats.var.size(); ++c) {
        const bool finite = std::isfinite(stats.gamma[c]) && std::isfinite(stats.beta[c]) &&
                            std::isfinite(stats.mean[c]) && std::isfinite(stats.var[c]);
        if (!finite || !(static_cast<double>(stats.var[c]) + stats.eps > 0.0))
            fail<core::ValueError>("fold_batch_norm: ", site.path, " channel ", c, " has weight ", stats.gamma[c],
                                   ", bias ", stats.beta[c], ", running_mean ", stats.mean[c], ", running_var ",
                                   stats.var[c], " and eps ", stats.eps,
                                   ", expected finite values with running_var + eps > 0");
    }
}

// w (O, ...) and b (O) of a Conv2d or Linear rewritten in place as described in the header.
template <class Layer>
void fold_into(Layer& layer, const Statistics& stats) {
    if (!layer.bias().defined()) layer.add_bias();
    Tensor weight = layer.weight().value();  // shares the parameter's storage
    Tensor bias = layer.bias().value();
    std::vector<float> w = weight.to_vector(), b = bias.to_vector();
    const size_t outputs = b.size(), per_output = w.size() / outputs;
    for (size_t c = 0; c < outputs; ++c) {
        const double scale =
            static_cast<double>(stats.gamma[c]) / std::sqrt(static_cast<double>(stats.var[c]) + stats.eps);
        for (size_t i = c * per_output; i < (c + 1) * per_output; ++i)
            w[i] = static_cast<float>(static_cast<double>(w[i]) * scale);
        // an explicit fma: the same rounding whether or not the compiler may contract a*b+c
        b[c] = static_cast<float>(std::fma(static_cast<double>(b[c]) - static_cast<double>(stats.mean[c]), scale,
                                           static_cast<double>(stats.beta[c])));
    }
    weight.copy_(Tensor::from_vector(weight.shape(), w));
    bias.copy_(Tensor::from_vector(bias.shape(), b));
}

bool is_folded_site(const Module& module) {
    const auto* identity = dynamic_cast<const Identity*>(&module);
    return identity && (identity->replaces() == "BatchNorm2d" || identity->replaces() == "BatchNorm1d");
}

int64_t count_folded(const Module& module) {
    int64_t count = is_folded_site(module) ? 1 : 0;
    for (const auto& [name, child] : module.children()) count += count_folded(*child);
    return count;
}

}  // namespace

int64_t fold_batch_norm(Module& model) {
    std::vector<FoldSite> sites;
    collect_sites(model, "", sites);
    // Check every site first, so a failing fold leaves the model as it was.
    for (const FoldSite& site : sites) check_site(site);
    for (const FoldSite& site : sites) {
        const Statistics stats = statistics_of(*site.batch_norm);
        if (site.conv) fold_into(*site.conv, stats);
        else fold_into(*site.linear, stats);
        site.parent->replace_child(site.name, std::make_shared<Identity>(site.batch_norm->type_name()));
    }
    return static_cast<int64_t>(sites.size());
}

int64_t folded_batch_norms(const Module& model) { return count_folded(model); }

std::map<std::string, std::string> fold_metadata(const Module& model) {
    if (folded_batch_norms(model) == 0) return {};
    return {{kFoldKey, kFoldValue}};
}

void apply_fold_metadata(Module& model, const std::map<std::string, std::string>& metadata,
                         const std::string& source) {
    const auto entry = metadata.find(kFoldKey);
    if (entry == metadata.end()) return;
    if (entry->second != kFoldValue)
        fail<core::FormatError>(source, ": metadata '", kFoldKey, "' is '", entry->second, "', expected '", kFoldValue,
                                "'");
    int64_t folded = 0;
    try {
        folded = fold_batch_norm(model);
    } catch (const core::ValueError& error) {
        fail<core::FormatError>(source, ": metadata '", kFoldKey, "' does not fit the model: ", error.what());
    }
    if (folded == 0)
        fail<core::FormatError>(source, ": metadata '", kFoldKey, "' is '", kFoldValue, "' but the model (",
                                model.type_name(), ") has no batch norm after a conv or linear layer to fold");
}

}  // namespace proact::layers
