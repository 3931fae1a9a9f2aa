// proact::core — tensors and the kernels under everything else.
//
//   Tensor t = Tensor::zeros({2, 3});         // float32, contiguous, 64-byte aligned
//   Tensor v = t.transpose(0, 1);             // a view: shares storage, strides swapped
//   Rng rng(seed, "init", layer_index);       // counter-based: same (seed, purpose, index) -> same numbers
//   Tensor w = Tensor::normal({6, 1, 5, 5}, 0, 0.1f, rng);
//   Tensor y = add(t, Tensor::ones({3}));     // broadcasting element-wise ops
//   Tensor s = sum(y, {0}, /*keepdim=*/true); // reductions over axes
//   Tensor p = matmul(a, b, false, true);     // a x b^T through our packed SGEMM (sgemm.hpp: AVX-512,
//                                             // AVX2 or plain C, chosen at run time)
//
// Errors are typed exceptions (error.hpp) whose messages name the operation, the expected and the
// actual value.
#pragma once

#include "core/clip.hpp"
#include "core/elementwise.hpp"
#include "core/error.hpp"
#include "core/gemm.hpp"
#include "core/progress.hpp"
#include "core/range_guard.hpp"
#include "core/reduce.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "core/threads.hpp"
