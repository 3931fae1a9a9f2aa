#include "layers/pooling.hpp"

#include <sstream>

#include "autograd/ops.hpp"

namespace proact::layers {

using core::fail;

namespace {

void check_pool_arguments(const char* layer, int64_t kernel, int64_t stride, int64_t padding) {
    if (kernel <= 0) fail<core::ValueError>(layer, ": kernel must be positive, got ", kernel);
    if (stride < 0) fail<core::ValueError>(layer, ": stride must be >= 0 (0 = kernel), got ", stride);
    if (padding < 0 || 2 * padding > kernel)
        fail<core::ValueError>(layer, ": padding must be in [0, kernel/2] = [0, ", kernel / 2, "], got ", padding);
}

void check_pool_input(const char* op, const core::Shape& shape, int64_t kernel, int64_t padding) {
    if (shape.size() != 4)
        fail<core::ShapeError>(op, ": input must be (batch, channels, height, width), got shape ",
                               core::shape_str(shape));
    if (shape[2] + 2 * padding < kernel || shape[3] + 2 * padding < kernel)
        fail<core::ShapeError>(op, ": input of ", shape[2], "x", shape[3], " pixels is smaller than the ", kernel, "x",
                               kernel, " window with padding ", padding);
}

std::string describe_pool(const char* name, int64_t kernel, int64_t stride, int64_t padding) {
    std::ostringstream out;
    out << name << "(kernel_size=" << kernel << ", stride=" << stride << ", padding=" << padding << ")";
    return out.str();
}

}  // namespace

MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride, int64_t padding)
    : kernel_(kernel), stride_(stride == 0 ? kernel : stride), padding_(padding) {
    check_pool_arguments("MaxPool2d", kernel, stride, padding);
}

Variable MaxPool2d::forward(const Variable& input) {
    check_input(input.shape());
    return autograd::max_pool2d(input, kernel_, stride_, padding_);
}

void MaxPool2d::check_input(const core::Shape& input_shape) const {
    check_pool_input("max_pool2d", input_shape, kernel_, padding_);
}

std::string MaxPool2d::describe() const { return describe_pool("MaxPool2d", kernel_, stride_, padding_); }

AvgPool2d::AvgPool2d(int64_t kernel, int64_t stride, int64_t padding)
    : kernel_(kernel), stride_(stride == 0 ? kernel : stride), padding_(padding) {
    check_pool_arguments("AvgPool2d", kernel, stride, padding);
}

Variable AvgPool2d::forward(const Variable& input) {
    check_pool_input("avg_pool2d", input.shape(), kernel_, padding_);
    return autograd::avg_pool2d(input, kernel_, stride_, padding_);
}

std::string AvgPool2d::describe() const { return describe_pool("AvgPool2d", kernel_, stride_, padding_); }

Variable GlobalAvgPool::forward(const Variable& input) {
    if (input.dim() != 4)
        fail<core::ShapeError>("global_avg_pool: input must be (batch, channels, height, width), got shape ",
                               core::shape_str(input.shape()));
    return autograd::global_avg_pool(input);
}

}  // namespace proact::layers
