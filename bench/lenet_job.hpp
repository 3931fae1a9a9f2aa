// The LeNet-5 / Fashion-MNIST training job every benchmark and bench/torch_lenet.py run alike:
// batch 64, SGD lr 0.05 momentum 0.9, constant rate, shuffled with seed 0, no augmentation, no
// validation, through the project's own training loop (train/).
#pragma once

#include <functional>

#include "train/training.hpp"

namespace proact::bench {

inline train::TrainOptions lenet_job(int epochs, int64_t max_batches_per_epoch = -1) {
    train::TrainOptions options;
    options.epochs = epochs;
    options.batch_size = 64;
    options.optimizer = "sgd";
    options.lr = 0.05f;
    options.momentum = 0.9f;
    options.schedule = "constant";
    options.seed = 0;
    options.progress = false;
    options.max_batches_per_epoch = max_batches_per_epoch;
    return options;
}

}  // namespace proact::bench
