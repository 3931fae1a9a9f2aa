// Example 2: training a small network with a hand-written loop.
//
// train::train_classifier does all of this for you (progress bars, validation, checkpoints);
// writing the loop once shows what it is made of: a seeded DataLoader, forward, loss, backward,
// optimizer step, and an evaluation at the end.
//
// Data: three Gaussian blobs in 8 dimensions (datasets/synthetic.hpp), images (N, 8), labels N.
// Model: Linear(8 -> 32), ReLU, Linear(32 -> 3): logits (B, 3) for a batch of B samples.
#include <cstdio>
#include <memory>

#include "autograd/autograd.hpp"
#include "datasets/loader.hpp"
#include "datasets/split.hpp"
#include "datasets/synthetic.hpp"
#include "layers/activation.hpp"
#include "layers/evaluate.hpp"
#include "layers/linear.hpp"
#include "layers/sequential.hpp"
#include "optim/adam.hpp"
#include "train/evaluate.hpp"

using namespace proact;

int main() {
    const uint64_t seed = 0;  // one seed decides the data, the initial weights and the batch order
    // One draw of the blobs (the seed fixes their centres), a seeded quarter of it held out for testing.
    auto [train, test] = datasets::split(datasets::gaussian_blobs(300, 3, 8, 1.5f, seed), 0.25, seed);

    // PyTorch-style names: the parameters are "0.weight", "0.bias", "2.weight", "2.bias".
    core::Rng init(seed, "init");
    auto model = std::make_shared<layers::Sequential>();
    model->add(std::make_shared<layers::Linear>(8, 32, init));
    model->add(std::make_shared<layers::ReLU>());
    model->add(std::make_shared<layers::Linear>(32, 3, init));

    optim::Adam optimizer(model->named_parameters(), {.lr = 0.01f});
    // Epoch e's order is the permutation drawn from Rng(seed, "shuffle", e): reruns give the same
    // batches, whatever the thread count.
    datasets::DataLoader loader(train, {.batch_size = 32, .shuffle = true, .seed = seed});
    model->train();  // training mode (matters for dropout and batch norm; here for habit)
    for (int64_t epoch = 0; epoch < 5; ++epoch) {
        loader.start_epoch(epoch);
        double loss_sum = 0.0;
        int64_t batches = 0;
        while (auto batch = loader.next()) {
            const autograd::Variable images(batch->images);           // (B, 8), no gradient
            const autograd::Variable logits = (*model)(images);        // (B, 3)
            autograd::Variable loss = autograd::cross_entropy(logits, batch->labels);  // mean over B
            optimizer.zero_grad();  // gradients accumulate: clear last step's first
            loss.backward();
            optimizer.step();
            loss_sum += loss.item();
            ++batches;
        }
        std::printf("epoch %lld: mean training loss %.4f\n", static_cast<long long>(epoch + 1),
                    loss_sum / double(batches));
    }

    // evaluate() switches to eval mode and builds no graph (inference only); train::evaluate feeds
    // it the data set batch by batch (its float images are never all made at once).
    const layers::EvalResult result = train::evaluate(*model, test);
    std::printf("test accuracy %.2f%% (%lld/%lld)\n", 100.0 * result.accuracy(), static_cast<long long>(result.correct),
                static_cast<long long>(result.total));
    // Blobs this far apart are nearly separable: a network that does not reach 90% has a bug.
    return result.accuracy() >= 0.9 ? 0 : 1;
}
