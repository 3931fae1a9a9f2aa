// matmul and the fused linear layer op. Gradients use transposed GEMMs, never explicit transposes.
#include "autograd/ops.hpp"
#include "core/gemm.hpp"
#include "core/reduce.hpp"

namespace proact::autograd {

namespace core = proact::core;

Variable matmul(const Variable& a, const Variable& b) {
    const Tensor av = a.value(), bv = b.value();
    return make_result(core::matmul(av, bv), "matmul", {a, b}, [a, b, av, bv](const Tensor& g) {
        Tensor da, db;
        // C = A B:  dA = dC B^T,  dB = A^T dC
        if (a.requires_grad()) da = core::matmul(g, bv, false, true);
        if (b.requires_grad()) {
            if (av.dim() > 2 && bv.dim() == 2) {
                // b shared by every batch: fold the batch axes into the rows of A and dC.
                const Tensor a2 = av.reshape({-1, av.size(-1)});
                const Tensor g2 = g.reshape({-1, g.size(-1)});
                db = core::matmul(a2, g2, true, false);
            } else {
                db = core::matmul(av, g, true, false);
            }
        }
        return std::vector<Tensor>{da, db};
    });
}

Variable linear(const Variable& x, const Variable& weight, const Variable& bias) {
    if (x.dim() != 2) core::fail<core::ShapeError>("linear: input must be (batch, features), got ", core::shape_str(x.shape()));
    if (weight.dim() != 2) core::fail<core::ShapeError>("linear: weight must be (out, in), got ", core::shape_str(weight.shape()));
    const int64_t batch = x.size(0), in = x.size(1), out_features = weight.size(0);
    if (weight.size(1) != in)
        core::fail<core::ShapeError>("linear: input has ", in, " features, weight expects ", weight.size(1));
    const bool has_bias = bias.defined();
    if (has_bias && bias.shape() != Shape{out_features})
        core::fail<core::ShapeError>("linear: bias has shape ", core::shape_str(bias.shape()), ", expected [",
                                     out_features, "]");
    const Tensor xv = x.value().contiguous(), wv = weight.value().contiguous();
    Tensor out = Tensor::empty({batch, out_features});
    // out (B,out) = bias broadcast, then += x (B,in) W^T
    float beta = 0.0f;
    if (has_bias) {
        const Tensor bv = bias.value().contiguous();
        for (int64_t i = 0; i < batch; ++i)
            std::copy(bv.data(), bv.data() + out_features, out.data() + i * out_features);
        beta = 1.0f;
    }
    core::gemm(false, true, batch, out_features, in, 1.0f, xv.data(), in, wv.data(), in, beta, out.data(),
               out_features);
    std::vector<Variable> inputs{x, weight};
    if (has_bias) inputs.push_back(bias);
    return make_result(out, "linear", std::move(inputs), [x, weight, bias, xv, wv, has_bias](const Tensor& g_in) {
        const Tensor g = g_in.contiguous();
        const int64_t batch = g.size(0), out_features = g.size(1), in = xv.size(1);
        Tensor dx, dw, db;
        if (x.requires_grad()) {
            dx = Tensor::empty({batch, in});  // dX (B,in) = dY (B,out) W (out,in)
            core::gemm(false, false, batch, in, out_features, 1.0f, g.data(), out_features, wv.data(), in, 0.0f,
                       dx.data(), in);
        }
        if (weight.requires_grad()) {
            // dW (out,in) = dY^T (out,B) X (B,in); by_shape: C is the layer's own out x in.
            dw = Tensor::empty({out_features, in});
            core::gemm(true, false, out_features, in, batch, 1.0f, g.data(), out_features, xv.data(), in, 0.0f,
                       dw.data(), in, core::GemmSums::by_shape);
        }
        std::vector<Tensor> grads{dx, dw};
        if (has_bias) grads.push_back(bias.requires_grad() ? core::sum(g, {0}) : Tensor());
        return grads;
    });
}

}  // namespace proact::autograd
