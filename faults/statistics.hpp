// Statistics of a campaign's per-trial accuracies: mean, sample standard deviation, extremes and
// the t-based 95% confidence interval of the mean; and those of a statistical fault injection
// (vulnerability.hpp): how many sites to inject and the interval of a proportion.
//
//   AccuracyStats stats = accuracy_stats({90.0, 92.0, 94.0});  // mean 92, std 2, CI ± 4.97
//   double t = student_t_quantile(0.975, 9);                   // 2.2622
//   int64_t n = leveugle_sample_size(10'000, 0.05, 0.95);      // 370 injections for ± 5 points
//   Interval ci = wilson_interval(3, 100, 0.95);               // [0.0103, 0.0845]
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

// The `probability` quantile of the standard normal distribution (0.975 -> 1.959964).
// ValueError outside (0, 1).
double normal_quantile(double probability);

// Statistical fault injection's sample size (Leveugle, Calvez, Maistri, Vanhauwaert, DATE 2009):
// the injections that estimate a proportion p among `population` sites, drawn without
// replacement, within ± `margin` at `confidence`:
//   n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p))),  t = normal_quantile((1 + confidence) / 2),
// rounded up; p = 0.5 is the worst case. ValueError for population < 1, margin outside (0, 1),
// confidence outside (0, 1) or p outside (0, 1).
int64_t leveugle_sample_size(int64_t population, double margin, double confidence, double p = 0.5);

struct Interval {
    double low = 0.0;
    double high = 0.0;
    double half_width() const { return (high - low) / 2.0; }
};

// Wilson's score interval at `confidence` for a proportion observed as `successes` of `trials`
// (successes may be fractional: a mean of values in [0, 1] times the trials). With a finite
// `population` (> 0; the trials drawn from it without replacement) z^2 is scaled by the
// finite-population correction (N - n) / (N - 1), so every site injected gives an interval of
// width 0; population 0 means infinite. ValueError for trials < 1, successes outside [0, trials],
// trials above a finite population, or confidence outside (0, 1).
Interval wilson_interval(double successes, int64_t trials, double confidence, int64_t population = 0);

}  // namespace proact::faults
