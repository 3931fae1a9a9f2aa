// Statistics of a campaign's per-trial accuracies: mean, sample standard deviation, extremes and
// the t-based 95% confidence interval of the mean.
//
//   AccuracyStats stats = accuracy_stats({90.0, 92.0, 94.0});  // mean 92, std 2, CI ± 4.97
//   double t = student_t_quantile(0.975, 9);                   // 2.2622
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace proact::faults {

struct AccuracyStats {
    int64_t trials = 0;
    double mean = 0.0;  // accuracies in percent
    double std = 0.0;   // sample standard deviation (n - 1); 0 for one trial
    double min = 0.0;
    double max = 0.0;
    // 95% confidence interval of the mean: mean ± t(0.975, n-1) * std / sqrt(n); NaN for n < 2.
    double ci95_half_width = std::numeric_limits<double>::quiet_NaN();
};

// ValueError for an empty list.
AccuracyStats accuracy_stats(const std::vector<double>& accuracies);

// The `probability` quantile of Student's t distribution with `dof` > 0 degrees of freedom
// (t(0.975, 9) = 2.2622, t(0.975, 99) = 1.9842).
double student_t_quantile(double probability, double dof);

}  // namespace proact::faults
