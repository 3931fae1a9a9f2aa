#include "datasets/loader.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "datasets/split.hpp"

namespace proact::datasets {

namespace {

// Batches built ahead of the consumer. Two keep the worker busy through one slow step.
constexpr size_t kPrefetchDepth = 2;

}  // namespace

struct DataLoader::EpochPlan {
    int64_t epoch = 0;
    std::vector<int64_t> order;  // dataset indices in epoch order
};

// The dataset and options, immutable after construction, so the prefetch thread can read them
// without locks and the DataLoader itself can move.
struct DataLoader::BatchBuilder {
    Dataset dataset;
    LoaderOptions options;

    int64_t num_batches() const {
        const int64_t count = dataset.size();
        return options.drop_last ? count / options.batch_size : (count + options.batch_size - 1) / options.batch_size;
    }

    std::shared_ptr<const EpochPlan> plan(int64_t epoch) const {
        if (epoch < 0)
            core::fail<core::ValueError>("DataLoader over '", dataset.name, "': epoch must be >= 0, got ", epoch);
        auto result = std::make_shared<EpochPlan>();
        result->epoch = epoch;
        if (options.shuffle) {
            core::Rng rng(options.seed, "shuffle", static_cast<uint64_t>(epoch));
            result->order = random_permutation(dataset.size(), rng);
        } else {
            result->order.resize(static_cast<size_t>(dataset.size()));
            std::iota(result->order.begin(), result->order.end(), int64_t(0));
        }
        return result;
    }

    Batch build(const EpochPlan& plan, int64_t batch_index) const {
        const int64_t first = batch_index * options.batch_size;
        const int64_t count = std::min(options.batch_size, dataset.size() - first);
        const int64_t sample_elements = dataset.sample_numel();

        Batch batch;
        batch.epoch = plan.epoch;
        batch.batch_index = batch_index;
        core::Shape shape = dataset.images_shape();
        shape[0] = count;
        batch.images = core::Tensor::empty(shape);
        batch.labels.resize(static_cast<size_t>(count));
        batch.indices.resize(static_cast<size_t>(count));

        float* destination = batch.images.data();
        const bool augment = options.augment.enabled();
        const core::Rng augment_stream(options.seed, "augment", static_cast<uint64_t>(plan.epoch));
        // One sample's float values, the source of its crop (crop_and_flip writes elsewhere).
        std::vector<float> raw(augment ? static_cast<size_t>(sample_elements) : 0);
        for (int64_t position = 0; position < count; ++position) {
            const int64_t index = plan.order[static_cast<size_t>(first + position)];  // a permutation: in range
            float* sample_out = destination + position * sample_elements;
            if (augment) {
                dataset.copy_sample(index, raw.data());
                core::Rng sample_rng = augment_stream.child(static_cast<uint64_t>(index));
                const AugmentationDraw draw = draw_augmentation(options.augment, sample_rng);
                crop_and_flip(raw, {sample_out, static_cast<size_t>(sample_elements)}, shape[1], shape[2], shape[3],
                              options.augment.crop_padding, draw);
            } else {
                dataset.copy_sample(index, sample_out);
            }
            batch.labels[static_cast<size_t>(position)] = dataset.labels[static_cast<size_t>(index)];
            batch.indices[static_cast<size_t>(position)] = index;
        }
        if (options.normalize.enabled()) {
            const int64_t channels = shape[1];
            normalize_samples(batch.images.span(), count, channels, sample_elements / channels, options.normalize);
        }
        return batch;
    }
};

// A background thread that builds the current epoch's batches in order into `ready`.
// start_epoch bumps `generation`; a batch finished for an older generation is thrown away.
struct DataLoader::Prefetcher {
    std::shared_ptr<const BatchBuilder> builder;
    std::mutex mutex;
    std::condition_variable changed;
    std::shared_ptr<const EpochPlan> plan;
    uint64_t generation = 0;
    int64_t next_to_build = 0;
    int64_t batch_count = 0;
    std::deque<Batch> ready;
    std::exception_ptr error;
    bool stopping = false;
    std::thread worker;

    explicit Prefetcher(std::shared_ptr<const BatchBuilder> batch_builder) : builder(std::move(batch_builder)) {
        worker = std::thread([this] { run(); });
    }

    ~Prefetcher() {
        {
            std::lock_guard<std::mutex> lock(mutex);
            stopping = true;
        }
        changed.notify_all();
        worker.join();
    }

    void run() {
        std::unique_lock<std::mutex> lock(mutex);
        for (;;) {
            changed.wait(lock, [&] {
                return stopping || (plan && !error && next_to_build < batch_count && ready.size() < kPrefetchDepth);
            });
            if (stopping) return;
            const std::shared_ptr<const EpochPlan> building_plan = plan;
            const uint64_t building_generation = generation;
            const int64_t batch_index = next_to_build++;
            lock.unlock();
            Batch batch;
            std::exception_ptr failure;
            try {
                batch = builder->build(*building_plan, batch_index);
            } catch (...) {
                failure = std::current_exception();
            }
            lock.lock();
            if (building_generation != generation) continue;
            if (failure)
                error = failure;
            else
                ready.push_back(std::move(batch));
            changed.notify_all();
        }
    }
};

DataLoader::DataLoader(const Dataset& dataset, LoaderOptions options) {
    auto builder = std::make_shared<BatchBuilder>(BatchBuilder{dataset, std::move(options)});
    Dataset& own = builder->dataset;
    const LoaderOptions& settings = builder->options;
    own.validate();
    if (settings.batch_size < 1)
        core::fail<core::ValueError>("DataLoader over '", own.name, "': batch_size must be >= 1, got ",
                                     settings.batch_size);
    if (settings.normalize.enabled()) check_normalization(settings.normalize, own.sample_shape()[0], "DataLoader");
    if (settings.augment.crop_padding < 0)
        core::fail<core::ValueError>("DataLoader over '", own.name, "': crop_padding must be >= 0, got ",
                                     settings.augment.crop_padding);
    if (settings.augment.enabled() && own.sample_shape().size() != 3)
        core::fail<core::ValueError>("DataLoader over '", own.name,
                                     "': augmentation needs [N, C, H, W] images, got shape ",
                                     core::shape_str(own.images_shape()));
    builder_ = std::move(builder);
}

DataLoader::~DataLoader() = default;
DataLoader::DataLoader(DataLoader&&) noexcept = default;
DataLoader& DataLoader::operator=(DataLoader&&) noexcept = default;

int64_t DataLoader::num_batches() const { return builder_->num_batches(); }
int64_t DataLoader::size() const { return builder_->dataset.size(); }
int64_t DataLoader::current_epoch() const { return plan_ ? plan_->epoch : -1; }
const Dataset& DataLoader::dataset() const { return builder_->dataset; }
const LoaderOptions& DataLoader::options() const { return builder_->options; }

void DataLoader::start_epoch(int64_t epoch) {
    plan_ = builder_->plan(epoch);
    next_batch_ = 0;
    if (!builder_->options.prefetch) return;
    if (!prefetcher_) prefetcher_ = std::make_unique<Prefetcher>(builder_);
    {
        std::lock_guard<std::mutex> lock(prefetcher_->mutex);
        prefetcher_->plan = plan_;
        ++prefetcher_->generation;
        prefetcher_->next_to_build = 0;
        prefetcher_->batch_count = builder_->num_batches();
        prefetcher_->ready.clear();
        prefetcher_->error = nullptr;
    }
    prefetcher_->changed.notify_all();
}

std::optional<Batch> DataLoader::next() {
    if (!plan_)
        core::fail<core::ValueError>("DataLoader over '", builder_->dataset.name,
                                     "': call start_epoch(epoch) before next()");
    if (next_batch_ >= builder_->num_batches()) return std::nullopt;
    if (!prefetcher_) return builder_->build(*plan_, next_batch_++);

    std::unique_lock<std::mutex> lock(prefetcher_->mutex);
    prefetcher_->changed.wait(lock, [&] { return !prefetcher_->ready.empty() || prefetcher_->error; });
    // An error stays until the next start_epoch: the batches after it were never built.
    if (prefetcher_->ready.empty()) std::rethrow_exception(prefetcher_->error);
    Batch batch = std::move(prefetcher_->ready.front());
    prefetcher_->ready.pop_front();
    ++next_batch_;
    lock.unlock();
    prefetcher_->changed.notify_all();
    return batch;
}

Batch DataLoader::batch_at(int64_t epoch, int64_t batch_index) const {
    if (batch_index < 0 || batch_index >= builder_->num_batches())
        core::fail<core::IndexError>("DataLoader over '", builder_->dataset.name, "': batch ", batch_index,
                                     " outside [0, ", builder_->num_batches(), ")");
    return builder_->build(*builder_->plan(epoch), batch_index);
}

}  // namespace proact::datasets
