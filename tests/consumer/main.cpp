// Built against an installed proact by tests/consumer/check_consumer.cmake: the headers include as
// they do in the tree and the libraries link. Prints the product of two tensors' matmul.
#include <cstdio>
#include <vector>

#include "core/core.hpp"

int main() {
    using proact::core::Tensor;
    const Tensor a = Tensor::from_vector({2, 2}, {1, 2, 3, 4});
    const Tensor b = Tensor::from_vector({2, 2}, {5, 6, 7, 8});
    const Tensor product = proact::core::matmul(a, b);
    const std::vector<float> values = product.to_vector();
    std::printf("%g %g %g %g\n", values[0], values[1], values[2], values[3]);
    return values == std::vector<float>{19, 22, 43, 50} ? 0 : 1;
}
