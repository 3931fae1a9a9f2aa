#include "autograd/gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace proact::autograd {

namespace {

// L = sum(output * projection), in double.
double project(const Tensor& output, const Tensor& projection) {
    const Tensor out = output.contiguous();
    double total = 0.0;
    for (int64_t i = 0; i < out.numel(); ++i) total += double(out.data()[i]) * double(projection.data()[i]);
    return total;
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
    GradcheckResult result;
    std::vector<Variable> variables;
    for (const Tensor& t : inputs) variables.emplace_back(t.clone(), true);

    const Variable output = fn(variables);
    core::Rng rng(options.seed, "gradcheck");
    const Tensor projection = Tensor::uniform(output.shape(), 0.5f, 1.5f, rng);
    if (!output.requires_grad()) {
        result.message = "gradcheck: the output does not require a gradient (op built no graph)";
        return result;
    }
    Variable(output).backward(projection);

    std::ostringstream report;
    for (size_t which = 0; which < variables.size(); ++which) {
        const Tensor analytic = variables[which].has_grad() ? variables[which].grad().contiguous()
                                                            : Tensor::zeros(inputs[which].shape());
        const bool allowed_zero = std::find(options.allow_zero.begin(), options.allow_zero.end(), which) !=
                                  options.allow_zero.end();
        bool all_zero = true;
        for (int64_t i = 0; i < analytic.numel(); ++i) all_zero = all_zero && analytic.data()[i] == 0.0f;
        if (all_zero && analytic.numel() > 0 && !allowed_zero) {
            result.message = "gradcheck: analytic gradient of input " + std::to_string(which) + " is all zero";
            return result;
        }

        // Perturb a private copy of the input; evaluate without building a graph.
        std::vector<Variable> probe;
        for (const Tensor& t : inputs) probe.emplace_back(t.clone(), false);
        Tensor& x = probe[which].value();
        for (int64_t i = 0; i < x.numel(); ++i) {
            const float original = x.data()[i];
            x.data()[i] = original + options.eps;
            const double plus = project(fn(probe).value(), projection);
            x.data()[i] = original - options.eps;
            const double minus = project(fn(probe).value(), projection);
            x.data()[i] = original;
            const double numeric = (plus - minus) / (2.0 * double(options.eps));
            const double exact = analytic.data()[i];
            const double error = std::fabs(exact - numeric);
            result.max_abs_error = std::max(result.max_abs_error, error);
            if (error > options.atol + options.rtol * std::fabs(numeric)) {
                std::ostringstream out;
                out << "gradcheck: input " << which << " " << core::shape_str(inputs[which].shape()) << " element "
                    << i << ": analytic " << exact << " vs numeric " << numeric << " (|diff| " << error << ")";
                result.message = out.str();
                return result;
            }
        }
    }
    report << "gradcheck: ok, max |analytic - numeric| = " << result.max_abs_error;
    result.ok = true;
    result.message = report.str();
    return result;
}

}  // namespace proact::autograd
