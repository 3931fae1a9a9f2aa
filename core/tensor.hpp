// Tensor: a float32 n-d array. A tensor is a view (shape, strides, offset) on a shared Storage.
//
//   shape   = sizes of the axes, outermost first:           [B, C, H, W]
//   strides = elements to step for +1 along each axis:       [C*H*W, H*W, W, 1] when contiguous
//   offset  = index of element [0, 0, ...] in the storage
//
// Views (reshape of a contiguous tensor, transpose, permute, slice/select on axis 0) share storage:
// writing through one is seen by the others. clone() and contiguous() of a non-contiguous tensor copy.
// Storage is 64-byte aligned and comes from a buffer pool, so a loop of forward passes that frees
// and re-allocates the same sizes (fault campaigns, evaluation) does not go back to the allocator.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace proact::core {

using Shape = std::vector<int64_t>;

int64_t numel_of(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
// Normalises a possibly negative axis against `ndim`; throws IndexError naming `op`.
int64_t normalize_axis(int64_t axis, int64_t ndim, const char* op);

// A 64-byte aligned float buffer. Not initialised.
class Storage {
public:
    explicit Storage(int64_t count);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    float* data() { return data_; }
    const float* data() const { return data_; }
    int64_t size() const { return size_; }

private:
    float* data_ = nullptr;
    int64_t size_ = 0;
};

// Buffer pool statistics and control (for benchmarks and tests).
struct BufferPoolStats {
    int64_t cached_bytes = 0;   // held by the pool, free for reuse
    int64_t hits = 0;           // allocations served from the pool
    int64_t misses = 0;         // allocations that went to the system
    int64_t released = 0;       // cached buffers freed to make room for newer ones
};
BufferPoolStats buffer_pool_stats();
void buffer_pool_clear();

class Tensor {
public:
    Tensor() = default;                 // undefined: defined() is false
    explicit Tensor(const Shape& shape);  // zero-filled, contiguous

    // Factories. `empty` leaves values uninitialised.
    static Tensor empty(const Shape& shape);
    static Tensor zeros(const Shape& shape);
    static Tensor ones(const Shape& shape);
    static Tensor full(const Shape& shape, float value);
    static Tensor scalar(float value);  // shape []
    static Tensor arange(float start, float stop, float step = 1.0f);
    static Tensor from_vector(const Shape& shape, const std::vector<float>& values);
    static Tensor uniform(const Shape& shape, float lo, float hi, Rng& rng);
    static Tensor normal(const Shape& shape, float mean, float stddev, Rng& rng);

    bool defined() const { return storage_ != nullptr; }
    int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
    const Shape& shape() const { return shape_; }
    const Shape& strides() const { return strides_; }
    int64_t size(int64_t axis) const;  // negative axes count from the end
    int64_t numel() const { return numel_; }
    int64_t offset() const { return offset_; }
    bool is_contiguous() const;

    // Pointer to element [0, 0, ...]; honour strides() unless is_contiguous().
    float* data();
    const float* data() const;
    // The elements in order; throws unless contiguous.
    std::span<float> span();
    std::span<const float> span() const;

    // Checked element access.
    float& at(std::initializer_list<int64_t> index);
    float at(std::initializer_list<int64_t> index) const;
    float item() const;  // the single element of a one-element tensor
    std::vector<float> to_vector() const;  // all elements in logical (row-major) order

    // Views.
    Tensor reshape(const Shape& shape) const;  // one -1 allowed; copies only if not contiguous
    Tensor view(const Shape& shape) const;     // like reshape but throws unless contiguous
    Tensor flatten(int64_t start_axis = 0) const;  // [d0..d(s-1), prod(rest)]
    Tensor transpose(int64_t axis_a, int64_t axis_b) const;
    Tensor permute(const std::vector<int64_t>& order) const;
    Tensor slice(int64_t start, int64_t stop) const;  // rows [start, stop) of axis 0
    Tensor select(int64_t index) const;               // row `index` of axis 0, axis dropped
    Tensor unsqueeze(int64_t axis) const;
    Tensor squeeze(int64_t axis) const;

    // Copies.
    Tensor contiguous() const;  // *this if already contiguous
    Tensor clone() const;       // always a fresh contiguous copy
    void copy_(const Tensor& source);  // same shape, any strides on either side
    void fill_(float value);
    void zero_() { fill_(0.0f); }

    bool same_shape(const Tensor& other) const { return shape_ == other.shape_; }
    bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }
    const std::shared_ptr<Storage>& storage() const { return storage_; }

private:
    Tensor(std::shared_ptr<Storage> storage, Shape shape, Shape strides, int64_t offset);
    int64_t linear_index(std::initializer_list<int64_t> index) const;

    std::shared_ptr<Storage> storage_;
    Shape shape_;
    Shape strides_;
    int64_t offset_ = 0;
    int64_t numel_ = 0;
};

// Exact equality of shape and every element (bit-level for non-NaN values).
bool equal(const Tensor& a, const Tensor& b);
// max |a - b| over all elements; shapes must match.
float max_abs_diff(const Tensor& a, const Tensor& b);

}  // namespace proact::core
