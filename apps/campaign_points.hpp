// `proact inject`'s campaign, point (one BER, or one k) after point, so that an interrupted run can
// continue: after each point the campaign so far is written to a partial file, atomically; with
// `resume` the points it holds are taken from it and the rest are run. The points of a sweep are
// independent (a trial's faults are keyed by its own rate, docs/DESIGN.md), so the joined result
// is the one a single run gives, and so are the bytes of its JSON.
//
//   PointwiseRun run{partial_path(json_path), resume, campaign_key(...)};
//   faults::CampaignResult result = run_by_point(model, data, options, run);
#pragma once

#include <string>

#include "datasets/dataset.hpp"
#include "faults/campaign.hpp"
#include "layers/module.hpp"

namespace proact::apps {

struct PointwiseRun {
    std::string partial;  // empty: one faults::run_campaign, nothing written, nothing resumed
    bool resume = false;  // take the points of `partial` when it exists
    std::string key;      // everything the results depend on; a partial of another key is refused
};

// What a campaign's results depend on, as text: the model file's bytes (by hash), the evaluation
// data (data_checksum) and every setting that reaches the result. Not the batch size, the stage
// cache or the thread count, which change no bit.
std::string campaign_key(const std::string& model_file, const datasets::Dataset& data, const std::string& split,
                         const faults::CampaignOptions& options);

// The campaign of `options` on `data`, point after point. ValueError naming the partial file and
// the first setting that differs when it was written by another campaign; FormatError when it is
// damaged. The partial file is left in place: the caller removes it once its outputs are written.
faults::CampaignResult run_by_point(layers::Module& model, const datasets::Dataset& data,
                                    const faults::CampaignOptions& options, const PointwiseRun& run);

}  // namespace proact::apps
