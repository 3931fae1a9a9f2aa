// A tiny CNN and data set for the fault tests: fast enough for thousands of trials under ASan,
// with the layer kinds the campaign treats specially (padded and unpadded convs, ReLU, max pool,
// flatten, linear layers).
//
//   features: Conv2d(1, 4, 3, stride, pad 1), ReLU, MaxPool2d(2), Conv2d(4, 6, 3, pad 0 or 1), ReLU
//   flatten
//   classifier: Linear(24, 16), ReLU, Linear(16, 5)
// on 1x8x8 inputs; stride 2 exercises the strided path of the channel-subset convolution.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "faults/campaign_result.hpp"
#include "faults/injector.hpp"
#include "layers/layers.hpp"

namespace faults_test {

using namespace proact;

// stride 1: 1x8x8 -> conv 4x8x8 -> pool 4x4x4 -> conv 6x2x2 -> 24 features.
// stride 2: 1x8x8 -> conv 4x4x4 -> pool 4x2x2 -> conv (pad 1 added) 6x2x2 -> 24 features.
inline layers::ModulePtr tiny_cnn(uint64_t seed, int64_t stride = 1) {
    core::Rng rng(seed, "init");
    auto model = std::make_shared<layers::Sequential>();
    auto features = model->add("features", std::make_shared<layers::Sequential>());
    features->add(std::make_shared<layers::Conv2d>(1, 4, 3, rng, stride, 1));
    features->add(std::make_shared<layers::ReLU>());
    features->add(std::make_shared<layers::MaxPool2d>(2));
    features->add(std::make_shared<layers::Conv2d>(4, 6, 3, rng, 1, stride == 1 ? 0 : 1));
    features->add(std::make_shared<layers::ReLU>());
    model->add("flatten", std::make_shared<layers::Flatten>());
    auto classifier = model->add("classifier", std::make_shared<layers::Sequential>());
    classifier->add(std::make_shared<layers::Linear>(24, 16, rng));
    classifier->add(std::make_shared<layers::ReLU>());
    classifier->add(std::make_shared<layers::Linear>(16, 5, rng));
    model->eval();
    return model;
}

struct TinyData {
    core::Tensor images;          // (count, 1, 8, 8)
    std::vector<int32_t> labels;  // the model's own predictions, a fifth of them replaced at random
};

inline TinyData tiny_data(layers::Module& model, int64_t count, uint64_t seed) {
    core::Rng rng(seed, "tiny-data");
    TinyData data;
    data.images = core::Tensor::normal({count, 1, 8, 8}, 0.0f, 1.0f, rng);
    const layers::EvalResult predictions = layers::evaluate(model, data.images,
                                                            std::vector<int32_t>(static_cast<size_t>(count), 0), 64);
    data.labels = predictions.predictions;
    for (int32_t& label : data.labels)
        if (rng.uniform() < 0.2f) label = static_cast<int32_t>(rng.below(5));
    return data;
}

// (target name, element * 64 + bit) of every fault of `map`, in map order: what tells two maps apart.
inline std::vector<std::pair<std::string, int64_t>> positions(const faults::FaultMap& map,
                                                              const std::vector<faults::FaultTarget>& targets) {
    std::vector<std::pair<std::string, int64_t>> bits;
    for (const faults::TensorFaults& tensor : map.tensors)
        for (const faults::BitFault& fault : tensor.faults)
            bits.emplace_back(targets[tensor.target].name, fault.element * 64 + fault.bit);
    return bits;
}

// Per point, the per-trial correct counts: what two campaigns must agree on.
inline std::vector<std::vector<int64_t>> per_trial(const faults::CampaignResult& result) {
    std::vector<std::vector<int64_t>> correct;
    for (const faults::PointResult& point : result.points) correct.push_back(point.correct);
    return correct;
}

// Per point, per trial: the SDC and no-prediction counts.
inline std::vector<std::vector<int64_t>> per_trial_outcomes(const faults::CampaignResult& result) {
    std::vector<std::vector<int64_t>> outcomes;
    for (const faults::PointResult& point : result.points) {
        outcomes.push_back(point.sdc);
        outcomes.push_back(point.no_prediction);
    }
    return outcomes;
}

template <class E, class F>
std::string error_message(F&& f) {
    try {
        f();
    } catch (const E& error) {
        return error.what();
    }
    return "<no exception>";
}

}  // namespace faults_test
