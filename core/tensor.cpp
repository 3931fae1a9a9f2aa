#include "core/tensor.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <unordered_map>

namespace proact::core {

// ---------------------------------------------------------------------------------------------
// Buffer pool: freed buffers are kept by byte size and handed out again. Bounded, so a one-off
// large allocation does not stay resident forever; when a freed buffer does not fit under the
// bound, the buffers cached longest ago are released to make room for it, so the pool follows the
// sizes the program uses now. (Keeping the old ones instead, a pool filled by one phase's sizes,
// say FitAct's training batches, served nothing to the next, a fault campaign's batches: every
// output tensor there came fresh from the system, and page faults took a third of the campaign's
// time.) Disabled under the sanitizers so that use-after-free in tensor code is reported instead
// of hidden by reuse.
namespace {

#if defined(PROACT_SANITIZE)
constexpr bool kPoolEnabled = false;
#else
constexpr bool kPoolEnabled = true;
#endif
constexpr int64_t kPoolLimitBytes = int64_t(512) << 20;
// Buffers from kHugeFromBytes on are placed on 2 MiB boundaries and the kernel is asked to back
// them with huge pages (madvise; Debian's kernels give transparent huge pages to those who ask):
// one page fault per 2 MiB instead of per 4 KiB. A fault campaign on ResNet-20 allocates
// activation buffers of 25-300 MB faster than a bounded pool can keep them, and their page faults
// took a third of its time. From 16 MiB on, the size classes below are whole huge pages, so this
// wastes no more than the classes do.
constexpr size_t kHugePageBytes = size_t(2) << 20;
constexpr size_t kHugeFromBytes = size_t(16) << 20;
constexpr size_t kAlignment = 64;

struct BufferPool {
    struct Cached {
        void* data;
        uint64_t stamp;  // when it was given back: the oldest go first
    };
    std::mutex mutex;
    std::unordered_map<size_t, std::deque<Cached>> free_by_bytes;  // per size, oldest at the front
    std::map<uint64_t, size_t> sizes_by_stamp;                     // every cached buffer's stamp -> size
    uint64_t next_stamp = 0;
    BufferPoolStats stats;

    void* take(size_t bytes) {
        if (kPoolEnabled) {
            std::lock_guard<std::mutex> lock(mutex);
            auto it = free_by_bytes.find(bytes);
            if (it != free_by_bytes.end() && !it->second.empty()) {
                const Cached newest = it->second.back();
                it->second.pop_back();
                sizes_by_stamp.erase(newest.stamp);
                stats.cached_bytes -= static_cast<int64_t>(bytes);
                ++stats.hits;
                return newest.data;
            }
            ++stats.misses;
        }
        const bool huge = bytes >= kHugeFromBytes;  // then a multiple of 2 MiB too (padded_bytes)
        void* p = std::aligned_alloc(huge ? kHugePageBytes : kAlignment, bytes);
        if (!p) fail<MemoryError>("tensor: out of memory allocating ", bytes, " bytes");
        if (huge) madvise(p, bytes, MADV_HUGEPAGE);  // advice only: without it, 4 KiB pages
        return p;
    }

    void give(void* p, size_t bytes) {
        if (kPoolEnabled && static_cast<int64_t>(bytes) <= kPoolLimitBytes) {
            std::lock_guard<std::mutex> lock(mutex);
            while (stats.cached_bytes + static_cast<int64_t>(bytes) > kPoolLimitBytes) release_oldest();
            free_by_bytes[bytes].push_back({p, next_stamp});
            sizes_by_stamp.emplace(next_stamp++, bytes);
            stats.cached_bytes += static_cast<int64_t>(bytes);
            return;
        }
        std::free(p);
    }

    // The buffer cached longest ago goes back to the system. Caller holds the mutex; the pool is
    // not empty (cached_bytes > 0).
    void release_oldest() {
        const auto oldest = sizes_by_stamp.begin();
        std::deque<Cached>& same_size = free_by_bytes[oldest->second];
        std::free(same_size.front().data);  // the oldest of its size, so the oldest of all
        same_size.pop_front();
        stats.cached_bytes -= static_cast<int64_t>(oldest->second);
        ++stats.released;
        sizes_by_stamp.erase(oldest);
    }

    void clear() {
        std::lock_guard<std::mutex> lock(mutex);
        for (auto& [bytes, list] : free_by_bytes)
            for (const Cached& cached : list) std::free(cached.data);
        free_by_bytes.clear();
        sizes_by_stamp.clear();
        stats.cached_bytes = 0;
    }

    ~BufferPool() { clear(); }
};

BufferPool& pool() {
    static BufferPool instance;
    return instance;
}

// The bytes allocated for `count` floats: whole 64-byte lines and, above 64 KiB, the next of
// eight size classes per doubling (at most 1/8 more than asked). Classes let buffers of nearby
// sizes share the pool: a fault campaign's channel-sparse restarts ask for (B, S, OH, OW) with
// S varying from fault to fault, and with exact sizes each S missed, and its buffer pushed a
// useful one out of the pool.
size_t padded_bytes(int64_t count) {
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(float);
    const size_t lines = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    constexpr size_t kExactUpTo = size_t(64) << 10;
    if (lines <= kExactUpTo) return lines;
    size_t power = kExactUpTo;  // the largest power of two below `lines`
    while (power * 2 < lines) power *= 2;
    const size_t step = power / 8;  // a multiple of kAlignment, and of kHugePageBytes from kHugeFromBytes on
    return (lines + step - 1) / step * step;
}

}  // namespace

BufferPoolStats buffer_pool_stats() {
    std::lock_guard<std::mutex> lock(pool().mutex);
    return pool().stats;
}

void buffer_pool_clear() { pool().clear(); }

Storage::Storage(int64_t count) : size_(count) {
    if (count < 0) fail<ValueError>("tensor: negative element count ", count);
    if (count > std::numeric_limits<int64_t>::max() / int64_t(sizeof(float)) - int64_t(kAlignment))
        fail<ValueError>("tensor: ", count, " elements do not fit in a byte count");
    data_ = static_cast<float*>(pool().take(padded_bytes(count)));
}

Storage::~Storage() { pool().give(data_, padded_bytes(size_)); }

// ---------------------------------------------------------------------------------------------

int64_t numel_of(const Shape& shape) {
    // Shapes come from files too (checkpoints, data set headers): both the element count and the
    // product of max(size, 1), which contiguous_strides reaches, must fit in an int64, and the
    // count must fit in bytes; a product that wrapped would allocate a small buffer for a huge view.
    constexpr int64_t kMaxElements = std::numeric_limits<int64_t>::max() / int64_t(sizeof(float));
    int64_t n = 1, extent = 1;
    for (int64_t d : shape) {
        if (d < 0) fail<ShapeError>("tensor: negative size in shape ", shape_str(shape));
        const int64_t step = std::max<int64_t>(d, 1);
        if (extent > kMaxElements / step)
            fail<ShapeError>("tensor: shape ", shape_str(shape), " has more than ", kMaxElements,
                             " elements (the most whose bytes an int64 can count)");
        extent *= step;
        n *= d;  // n <= extent, so it cannot overflow either
    }
    return n;
}

Shape contiguous_strides(const Shape& shape) {
    Shape strides(shape.size());
    int64_t step = 1;
    for (size_t i = shape.size(); i-- > 0;) {
        strides[i] = step;
        step *= std::max<int64_t>(shape[i], 1);
    }
    return strides;
}

int64_t normalize_axis(int64_t axis, int64_t ndim, const char* op) {
    const int64_t a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim)
        fail<IndexError>(op, ": axis ", axis, " out of range for a tensor with ", ndim, " axes");
    return a;
}

Tensor::Tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides, int64_t offset)
    : storage_(std::move(storage)), shape_(std::move(shape)), strides_(std::move(strides)),
      offset_(offset), numel_(numel_of(shape_)) {}

Tensor::Tensor(const Shape& shape) : Tensor(empty(shape)) { fill_(0.0f); }

Tensor Tensor::empty(const Shape& shape) {
    const int64_t n = numel_of(shape);
    return Tensor(std::make_shared<Storage>(n), shape, contiguous_strides(shape), 0);
}

Tensor Tensor::zeros(const Shape& shape) { return full(shape, 0.0f); }
Tensor Tensor::ones(const Shape& shape) { return full(shape, 1.0f); }

Tensor Tensor::full(const Shape& shape, float value) {
    Tensor t = empty(shape);
    std::fill_n(t.data(), t.numel(), value);
    return t;
}

Tensor Tensor::scalar(float value) { return full({}, value); }

Tensor Tensor::arange(float start, float stop, float step) {
    if (step == 0.0f || !std::isfinite(step)) fail<ValueError>("arange: step must be finite and non-zero, got ", step);
    const double count_d = std::ceil((double(stop) - double(start)) / double(step));
    const int64_t count = count_d > 0 ? static_cast<int64_t>(count_d) : 0;
    Tensor t = empty({count});
    for (int64_t i = 0; i < count; ++i) t.data()[i] = static_cast<float>(double(start) + double(step) * double(i));
    return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
    const int64_t n = numel_of(shape);
    if (n != static_cast<int64_t>(values.size()))
        fail<ShapeError>("from_vector: shape ", shape_str(shape), " holds ", n, " elements, got ", values.size(),
                         " values");
    Tensor t = empty(shape);
    std::copy(values.begin(), values.end(), t.data());
    return t;
}

Tensor Tensor::uniform(const Shape& shape, float lo, float hi, Rng& rng) {
    if (!(lo <= hi)) fail<ValueError>("uniform: lower bound ", lo, " above upper bound ", hi);
    Tensor t = empty(shape);
    float* out = t.data();
    for (int64_t i = 0; i < t.numel(); ++i) out[i] = rng.uniform(lo, hi);
    return t;
}

Tensor Tensor::normal(const Shape& shape, float mean, float stddev, Rng& rng) {
    if (!(stddev >= 0.0f)) fail<ValueError>("normal: standard deviation must be >= 0, got ", stddev);
    Tensor t = empty(shape);
    float* out = t.data();
    for (int64_t i = 0; i < t.numel(); ++i) out[i] = rng.normal(mean, stddev);
    return t;
}

int64_t Tensor::size(int64_t axis) const { return shape_[normalize_axis(axis, dim(), "size")]; }

bool Tensor::is_contiguous() const {
    int64_t expected = 1;
    for (size_t i = shape_.size(); i-- > 0;) {
        if (shape_[i] == 1) continue;
        if (strides_[i] != expected) return false;
        expected *= shape_[i];
    }
    return true;
}

float* Tensor::data() {
    if (!storage_) fail<Error>("tensor: data() of an undefined tensor");
    return storage_->data() + offset_;
}

const float* Tensor::data() const {
    if (!storage_) fail<Error>("tensor: data() of an undefined tensor");
    return storage_->data() + offset_;
}

std::span<float> Tensor::span() {
    if (!is_contiguous()) fail<Error>("tensor: span() of a non-contiguous tensor ", shape_str(shape_));
    return {data(), static_cast<size_t>(numel_)};
}

std::span<const float> Tensor::span() const {
    if (!is_contiguous()) fail<Error>("tensor: span() of a non-contiguous tensor ", shape_str(shape_));
    return {data(), static_cast<size_t>(numel_)};
}

int64_t Tensor::linear_index(std::initializer_list<int64_t> index) const {
    if (static_cast<int64_t>(index.size()) != dim())
        fail<IndexError>("at: ", index.size(), " indices for a tensor with ", dim(), " axes ", shape_str(shape_));
    int64_t pos = 0, axis = 0;
    for (int64_t i : index) {
        if (i < 0 || i >= shape_[axis])
            fail<IndexError>("at: index ", i, " out of range [0, ", shape_[axis], ") on axis ", axis, " of ",
                             shape_str(shape_));
        pos += i * strides_[axis];
        ++axis;
    }
    return pos;
}

float& Tensor::at(std::initializer_list<int64_t> index) { return data()[linear_index(index)]; }
float Tensor::at(std::initializer_list<int64_t> index) const { return data()[linear_index(index)]; }

float Tensor::item() const {
    if (numel_ != 1) fail<ShapeError>("item: tensor has ", numel_, " elements, expected 1");
    return *data();
}

std::vector<float> Tensor::to_vector() const {
    Tensor c = contiguous();
    return std::vector<float>(c.data(), c.data() + c.numel());
}

Tensor Tensor::reshape(const Shape& shape) const {
    Shape resolved = shape;
    int64_t infer = -1;
    for (size_t i = 0; i < resolved.size(); ++i) {
        if (resolved[i] == -1) {
            if (infer >= 0) fail<ShapeError>("reshape: more than one -1 in ", shape_str(shape));
            infer = static_cast<int64_t>(i);
        } else if (resolved[i] < 0) {
            fail<ShapeError>("reshape: negative size in ", shape_str(shape));
        }
    }
    if (infer >= 0) {
        // The product of the given sizes, overflow-checked by numel_of (the -1 counted as 1).
        Shape given = resolved;
        given[static_cast<size_t>(infer)] = 1;
        const int64_t known = numel_of(given);
        if (known == 0 || numel_ % known != 0)
            fail<ShapeError>("reshape: cannot reshape ", shape_str(shape_), " into ", shape_str(shape));
        resolved[infer] = numel_ / known;
    }
    if (numel_of(resolved) != numel_)
        fail<ShapeError>("reshape: cannot reshape ", shape_str(shape_), " (", numel_, " elements) into ",
                         shape_str(shape));
    const Tensor source = contiguous();
    return Tensor(source.storage_, resolved, contiguous_strides(resolved), source.offset_);
}

Tensor Tensor::view(const Shape& shape) const {
    if (!is_contiguous()) fail<ShapeError>("view: tensor ", shape_str(shape_), " is not contiguous");
    return reshape(shape);
}

Tensor Tensor::flatten(int64_t start_axis) const {
    if (dim() == 0) return reshape({1});
    const int64_t start = normalize_axis(start_axis, dim(), "flatten");
    Shape shape(shape_.begin(), shape_.begin() + start);
    int64_t rest = 1;
    for (int64_t i = start; i < dim(); ++i) rest *= shape_[i];
    shape.push_back(rest);
    return reshape(shape);
}

Tensor Tensor::transpose(int64_t axis_a, int64_t axis_b) const {
    const int64_t a = normalize_axis(axis_a, dim(), "transpose");
    const int64_t b = normalize_axis(axis_b, dim(), "transpose");
    Tensor t = *this;
    std::swap(t.shape_[a], t.shape_[b]);
    std::swap(t.strides_[a], t.strides_[b]);
    return t;
}

Tensor Tensor::permute(const std::vector<int64_t>& order) const {
    if (static_cast<int64_t>(order.size()) != dim())
        fail<ShapeError>("permute: order has ", order.size(), " axes, tensor has ", dim());
    std::vector<bool> seen(order.size(), false);
    Tensor t = *this;
    for (size_t i = 0; i < order.size(); ++i) {
        const int64_t axis = normalize_axis(order[i], dim(), "permute");
        if (seen[axis]) fail<ShapeError>("permute: axis ", axis, " appears twice");
        seen[axis] = true;
        t.shape_[i] = shape_[axis];
        t.strides_[i] = strides_[axis];
    }
    return t;
}

Tensor Tensor::slice(int64_t start, int64_t stop) const {
    if (dim() == 0) fail<ShapeError>("slice: cannot slice a scalar");
    if (start < 0 || stop < start || stop > shape_[0])
        fail<IndexError>("slice: rows [", start, ", ", stop, ") out of range for axis 0 of size ", shape_[0]);
    Tensor t = *this;
    t.shape_[0] = stop - start;
    t.offset_ = offset_ + start * strides_[0];
    t.numel_ = numel_of(t.shape_);
    return t;
}

Tensor Tensor::select(int64_t index) const {
    if (dim() == 0) fail<ShapeError>("select: cannot select from a scalar");
    if (index < 0 || index >= shape_[0])
        fail<IndexError>("select: row ", index, " out of range for axis 0 of size ", shape_[0]);
    Shape shape(shape_.begin() + 1, shape_.end());
    Shape strides(strides_.begin() + 1, strides_.end());
    return Tensor(storage_, shape, strides, offset_ + index * strides_[0]);
}

Tensor Tensor::unsqueeze(int64_t axis) const {
    const int64_t a = normalize_axis(axis, dim() + 1, "unsqueeze");
    Tensor t = *this;
    const int64_t stride = a < dim() ? strides_[a] * shape_[a] : 1;
    t.shape_.insert(t.shape_.begin() + a, 1);
    t.strides_.insert(t.strides_.begin() + a, stride);
    return t;
}

Tensor Tensor::squeeze(int64_t axis) const {
    const int64_t a = normalize_axis(axis, dim(), "squeeze");
    if (shape_[a] != 1) fail<ShapeError>("squeeze: axis ", a, " has size ", shape_[a], ", expected 1");
    Tensor t = *this;
    t.shape_.erase(t.shape_.begin() + a);
    t.strides_.erase(t.strides_.begin() + a);
    return t;
}

namespace {

// dst[i...] = src[i...] over `shape`, both strided. Recurses to the last axis, then a flat loop.
void strided_copy(float* dst, const int64_t* dst_strides, const float* src, const int64_t* src_strides,
                  const int64_t* shape, int64_t ndim) {
    if (ndim == 0) {
        *dst = *src;
        return;
    }
    if (ndim == 1) {
        const int64_t n = shape[0], ds = dst_strides[0], ss = src_strides[0];
        if (ds == 1 && ss == 1) {
            std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(n));
        } else {
            for (int64_t i = 0; i < n; ++i) dst[i * ds] = src[i * ss];
        }
        return;
    }
    for (int64_t i = 0; i < shape[0]; ++i)
        strided_copy(dst + i * dst_strides[0], dst_strides + 1, src + i * src_strides[0], src_strides + 1, shape + 1,
                     ndim - 1);
}

}  // namespace

Tensor Tensor::contiguous() const {
    if (!defined() || is_contiguous()) return *this;
    return clone();
}

Tensor Tensor::clone() const {
    if (!defined()) return *this;
    Tensor t = empty(shape_);
    t.copy_(*this);
    return t;
}

void Tensor::copy_(const Tensor& source) {
    if (shape_ != source.shape_)
        fail<ShapeError>("copy_: destination ", shape_str(shape_), " and source ", shape_str(source.shape_),
                         " differ");
    if (numel_ == 0) return;
    if (is_contiguous() && source.is_contiguous()) {
        std::memmove(data(), source.data(), sizeof(float) * static_cast<size_t>(numel_));
        return;
    }
    strided_copy(data(), strides_.data(), source.data(), source.strides_.data(), shape_.data(), dim());
}

void Tensor::fill_(float value) {
    if (numel_ == 0) return;
    if (is_contiguous()) {
        std::fill_n(data(), numel_, value);
        return;
    }
    Tensor source = full(shape_, value);
    copy_(source);
}

bool equal(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape()) return false;
    const auto va = a.to_vector(), vb = b.to_vector();
    return std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
    if (a.shape() != b.shape())
        fail<ShapeError>("max_abs_diff: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()), " differ");
    const auto va = a.to_vector(), vb = b.to_vector();
    float worst = 0.0f;
    for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(va[i] - vb[i]));
    return worst;
}

}  // namespace proact::core
