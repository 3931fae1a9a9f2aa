#include "apps/method_flags.hpp"

#include <cmath>

#include "apps/common.hpp"
#include "core/error.hpp"
#include "faults/campaign_options.hpp"

namespace proact::apps {

namespace {

// The reference toolbox's ProAct settings for every flag the user did not give.
void apply_toolbox_preset(const CLI::App& command, method::ProActOptions& options) {
    const auto unset = [&command](const char* flag) { return command.count(flag) == 0; };
    if (unset("--ce-weight")) options.ce_weight = 1.0f;
    if (unset("--kd-weight")) options.kd_weight = 1.0f;
    if (unset("--l2-weight")) options.l2_weight = 0.0f;
    if (unset("--optimizer-thresholds")) options.optimizer = "adam";
    if (unset("--lr-neuron")) options.lr_neuron = 0.01f;
    if (unset("--schedule-thresholds")) options.schedule = "cosine";
    if (unset("--decays")) {
        options.decays.clear();
        for (int exponent = 5; exponent <= 15; ++exponent) options.decays.push_back(4.0f * std::pow(10.0f, -float(exponent)));
    }
    if (unset("--epochs-scalar")) options.epochs_scalar = 100;
    if (unset("--epochs-neuron")) options.epochs_neuron = 100;
    if (unset("--check-every-epoch")) options.check_every_epoch = true;
    if (unset("--tolerance")) options.tolerance = 0.2;
}

// Epochs and rounds: a typo cannot ask for billions.
const CLI::Validator kCount = whole_number(1, kMaxEpochs);

}  // namespace

void add_method_flags(CLI::App& command, MethodFlags& flags) {
    method::MethodSettings& s = flags.settings;
    method::ProActOptions& o = s.proact;
    command.add_option("--preset", flags.preset, "ProAct: ours | toolbox, the defaults of every ProAct setting")
        ->check(CLI::IsMember({"ours", "toolbox"}))
        ->capture_default_str();
    command.add_option("--ce-weight", o.ce_weight, "ProAct: loss weight of the cross-entropy")
        ->check(non_negative_number())
        ->capture_default_str();
    command.add_option("--kd-weight", o.kd_weight, "ProAct: loss weight of the distillation from the original model")
        ->check(non_negative_number())
        ->capture_default_str();
    command.add_option("--l2-weight", o.l2_weight, "ProAct: loss weight of mean(threshold^2)")
        ->check(non_negative_number())
        ->capture_default_str();
    command.add_option("--optimizer-thresholds", o.optimizer, "ProAct: adamw | adam")->capture_default_str();
    command.add_option("--lr-scalar", o.lr_scalar, "ProAct: learning rate of layer-wise thresholds")
        ->check(positive_number())
        ->capture_default_str();
    command.add_option("--lr-neuron", o.lr_neuron, "ProAct: learning rate of channel- and neuron-wise thresholds")
        ->check(positive_number())
        ->capture_default_str();
    command.add_option("--schedule-thresholds", o.schedule, "ProAct: constant | cosine (over each try)")->capture_default_str();
    command.add_option("--decays", o.decays, "ProAct: weight decays to try, first to last (comma-separated)")
        ->delimiter(',')
        ->check(non_negative_number())
        ->capture_default_str();
    command.add_option("--epochs-scalar", o.epochs_scalar, "ProAct: epochs per try, layer-wise thresholds")
        ->check(kCount)
        ->capture_default_str();
    command.add_option("--epochs-neuron", o.epochs_neuron, "ProAct: epochs per try, channel-/neuron-wise thresholds")
        ->check(kCount)
        ->capture_default_str();
    command.add_flag("--check-every-epoch", o.check_every_epoch, "ProAct: validate after every epoch, accept at the first fit");
    command.add_option("--tolerance", o.tolerance, "ProAct: validation accuracy points hardening may cost")
        ->check(number_in(0.0, 100.0))
        ->capture_default_str();
    command.add_option("--tolerance-reference", flags.tolerance_reference,
                       "ProAct: original (one fixed reference: the total loss is at most the tolerance) | previous-layer "
                       "(each layer against the accuracy before it: the tolerance adds up)")
        ->check(CLI::IsMember({"original", "previous-layer"}))
        ->capture_default_str();
    command.add_option("--fitact-epochs", s.fitact.epochs, "FitAct: epochs over the training split (the toolbox: 100)")
        ->check(kCount)
        ->capture_default_str();
    command.add_option("--fitact-lr", s.fitact.lr, "FitAct: Adam learning rate of every threshold")
        ->check(positive_number())
        ->capture_default_str();
    command.add_option("--fitact-l2-weight", s.fitact.l2_weight, "FitAct: loss weight of Σ mean(threshold^2)")
        ->check(non_negative_number())
        ->capture_default_str();
    command.add_option("--fitact-weight-decay", s.fitact.weight_decay, "FitAct: Adam weight decay (the toolbox: 4e-11)")
        ->check(non_negative_number())
        ->capture_default_str();
    command.add_option("--search-bers", flags.search_bers,
                       "FtClipAct: BERs of each candidate's campaign (default: the evaluation BERs, at most 5; the "
                       "toolbox: 1e-7,1e-6,3e-6,1e-5,3e-5)")
        ->check(ber_list_flag());
    command.add_option("--search-trials", s.ftclipact.campaign.trials, "FtClipAct: trials per BER")->check(whole_number(1, kMaxTrials))->capture_default_str();
    command.add_option("--search-fault-model", flags.search_fault_model, "FtClipAct: ber | stuck0 | stuck1")
        ->capture_default_str();
    command.add_option("--candidates", s.ftclipact.candidates, "FtClipAct: equally spaced thresholds per round")
        ->check(whole_number(2, 1000))
        ->capture_default_str();
    command.add_option("--min-rounds", s.ftclipact.min_rounds, "FtClipAct: rounds before the score rule may stop")
        ->check(kCount)
        ->capture_default_str();
    command.add_option("--max-rounds", s.ftclipact.max_rounds, "FtClipAct: rounds per layer at most")->check(kCount)->capture_default_str();
    command.add_option("--score-tolerance", s.ftclipact.score_tolerance,
                       "FtClipAct: stop when a round's scores differ by at most this")
        ->check(non_negative_number())
        ->capture_default_str();
    command.add_flag("--no-threshold-faults", flags.no_threshold_faults, "FtClipAct: leave thresholds out of the search");
    command.add_option("--profile-images", s.profile_images, "Training images the activation maxima come from (every method)")
        ->check(whole_number(1, kMaxImages))
        ->capture_default_str();
    command.add_option("--max-train-images", s.max_train_images,
                       "ProAct, FitAct: cap on the threshold-training images, a seeded subset (0: all)")
        ->check(whole_number(0, kMaxImages))
        ->capture_default_str();
    command.add_option("--threshold-batch-size", s.batch_size, "ProAct, FitAct: threshold-training batch size")
        ->check(whole_number(1, kMaxBatchSize))
        ->capture_default_str();
    command.add_option("--cache-budget-mb", flags.cache_budget_mb, "ProAct, FitAct: memory for the frozen prefix's outputs; FtClipAct: for each search trial's faulty prefix output")
        ->check(whole_number(0, int64_t(1) << 30))
        ->capture_default_str();
}

method::MethodSettings resolve_method_flags(const CLI::App& command, const MethodFlags& flags) {
    method::MethodSettings settings = flags.settings;
    if (flags.preset == "toolbox") apply_toolbox_preset(command, settings.proact);
    else if (flags.preset != "ours")
        core::fail<core::ValueError>("--preset '", flags.preset, "' is not one of ours, toolbox");
    settings.proact.tolerance_reference = method::parse_tolerance_reference(flags.tolerance_reference);
    if (!flags.search_bers.empty()) settings.ftclipact_search_bers = faults::parse_ber_list(flags.search_bers);
    settings.ftclipact.campaign.fault_model = faults::FaultModelSpec::parse(flags.search_fault_model);
    settings.ftclipact.campaign.fault_thresholds = !flags.no_threshold_faults;
    if (flags.cache_budget_mb < 0 || flags.cache_budget_mb > (int64_t(1) << 30))
        core::fail<core::ValueError>("--cache-budget-mb must be in [0, 1073741824], got ", flags.cache_budget_mb);
    settings.cache_budget_bytes = flags.cache_budget_mb * (int64_t(1) << 20);
    if (settings.profile_images < 1)
        core::fail<core::ValueError>("--profile-images must be at least 1, got ", settings.profile_images);
    if (settings.max_train_images < 0)
        core::fail<core::ValueError>("--max-train-images must be >= 0 (0: all), got ", settings.max_train_images);
    if (settings.batch_size < 1)
        core::fail<core::ValueError>("--threshold-batch-size must be at least 1, got ", settings.batch_size);
    method::validate_settings(settings);
    return settings;
}

void note_hardening_memory(const method::MethodSettings& settings) {
    note_memory_request("--cache-budget-mb", "the frozen prefix's outputs kept in memory", double(settings.cache_budget_bytes));
    note_memory_request("--threshold-batch-size",
                        "threshold-training batches of " + std::to_string(settings.batch_size) + " images", -1.0);
}

}  // namespace proact::apps
