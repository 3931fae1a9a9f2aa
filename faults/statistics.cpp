#include "faults/statistics.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace proact::faults {

using core::fail;
using core::ValueError;

namespace {

// Continued fraction of the regularised incomplete beta function (modified Lentz).
double beta_continued_fraction(double a, double b, double x) {
    constexpr double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (std::fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 500; ++m) {
        const double m2 = 2.0 * m;
        double numerator = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + numerator * d;
        c = 1.0 + numerator / c;
        if (std::fabs(d) < tiny) d = tiny;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        numerator = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + numerator * d;
        c = 1.0 + numerator / c;
        if (std::fabs(d) < tiny) d = tiny;
        if (std::fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        const double step = d * c;
        h *= step;
        if (std::fabs(step - 1.0) < 1e-15) break;
    }
    return h;
}

// I_x(a, b).
double incomplete_beta(double a, double b, double x) {
    if (x <= 0.0) return 0.0;
    if (x >= 1.0) return 1.0;
    const double front =
        std::exp(a * std::log(x) + b * std::log1p(-x) - (std::lgamma(a) + std::lgamma(b) - std::lgamma(a + b)));
    if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
    return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

double student_t_cdf(double t, double dof) {
    const double tail = 0.5 * incomplete_beta(dof / 2.0, 0.5, dof / (dof + t * t));
    return t > 0.0 ? 1.0 - tail : tail;
}

}  // namespace

double student_t_quantile(double probability, double dof) {
    if (!(probability > 0.0 && probability < 1.0))
        fail<ValueError>("student_t_quantile: probability ", probability, " outside (0, 1)");
    if (!(dof > 0.0)) fail<ValueError>("student_t_quantile: degrees of freedom ", dof, ", expected > 0");
    if (probability == 0.5) return 0.0;
    if (probability < 0.5) return -student_t_quantile(1.0 - probability, dof);
    double low = 0.0, high = 1.0;
    while (student_t_cdf(high, dof) < probability) {
        low = high;
        high *= 2.0;
        if (high > 1e300) return high;
    }
    for (int iteration = 0; iteration < 200 && high - low > 1e-14 * high; ++iteration) {
        const double middle = 0.5 * (low + high);
        (student_t_cdf(middle, dof) < probability ? low : high) = middle;
    }
    return 0.5 * (low + high);
}

double normal_quantile(double probability) {
    if (!(probability > 0.0 && probability < 1.0))
        fail<ValueError>("normal_quantile: probability ", probability, " outside (0, 1)");
    if (probability == 0.5) return 0.0;
    if (probability < 0.5) return -normal_quantile(1.0 - probability);
    // Bisection on the CDF 0.5 erfc(-x / sqrt 2): plain, and exact to the last bits that matter.
    const auto cdf = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
    double low = 0.0, high = 1.0;
    while (cdf(high) < probability) {
        low = high;
        high *= 2.0;
        if (high > 64.0) return high;  // beyond double's reach of the upper tail
    }
    for (int iteration = 0; iteration < 200 && high - low > 1e-15 * high; ++iteration) {
        const double middle = 0.5 * (low + high);
        (cdf(middle) < probability ? low : high) = middle;
    }
    return 0.5 * (low + high);
}

int64_t leveugle_sample_size(int64_t population, double margin, double confidence, double p) {
    if (population < 1) fail<ValueError>("leveugle_sample_size: population ", population, ", expected at least 1");
    if (!(margin > 0.0 && margin < 1.0)) fail<ValueError>("leveugle_sample_size: margin ", margin, " outside (0, 1)");
    if (!(confidence > 0.0 && confidence < 1.0))
        fail<ValueError>("leveugle_sample_size: confidence ", confidence, " outside (0, 1)");
    if (!(p > 0.0 && p < 1.0)) fail<ValueError>("leveugle_sample_size: proportion ", p, " outside (0, 1)");
    const double t = normal_quantile((1.0 + confidence) / 2.0);
    const double n = static_cast<double>(population);
    const double size = n / (1.0 + margin * margin * (n - 1.0) / (t * t * p * (1.0 - p)));
    // Rounded up, with a little slack so that an exact integer is not pushed up by rounding error.
    return std::clamp<int64_t>(static_cast<int64_t>(std::ceil(size - 1e-9)), 1, population);
}

Interval wilson_interval(double successes, int64_t trials, double confidence, int64_t population) {
    if (trials < 1) fail<ValueError>("wilson_interval: ", trials, " trials, expected at least 1");
    if (!(successes >= 0.0 && successes <= static_cast<double>(trials)))
        fail<ValueError>("wilson_interval: ", successes, " successes outside [0, ", trials, "]");
    if (population < 0 || (population > 0 && trials > population))
        fail<ValueError>("wilson_interval: ", trials, " trials drawn from a population of ", population);
    if (!(confidence > 0.0 && confidence < 1.0))
        fail<ValueError>("wilson_interval: confidence ", confidence, " outside (0, 1)");
    const double n = static_cast<double>(trials);
    const double p = successes / n;
    double z2 = std::pow(normal_quantile((1.0 + confidence) / 2.0), 2.0);
    if (population > 1) z2 *= static_cast<double>(population - trials) / static_cast<double>(population - 1);
    if (population == 1) z2 = 0.0;
    const double denominator = 1.0 + z2 / n;
    const double center = (p + z2 / (2.0 * n)) / denominator;
    const double half = std::sqrt(z2 * (p * (1.0 - p) / n + z2 / (4.0 * n * n))) / denominator;
    return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

AccuracyStats accuracy_stats(const std::vector<double>& accuracies) {
    if (accuracies.empty()) fail<ValueError>("accuracy_stats: no accuracies (expected at least one trial)");
    AccuracyStats stats;
    stats.trials = static_cast<int64_t>(accuracies.size());
    double sum = 0.0;
    stats.min = stats.max = accuracies[0];
    for (double accuracy : accuracies) {
        sum += accuracy;
        stats.min = std::min(stats.min, accuracy);
        stats.max = std::max(stats.max, accuracy);
    }
    const double n = static_cast<double>(accuracies.size());
    stats.mean = sum / n;
    if (accuracies.size() >= 2) {
        double squares = 0.0;
        for (double accuracy : accuracies) squares += (accuracy - stats.mean) * (accuracy - stats.mean);
        stats.std = std::sqrt(squares / (n - 1.0));
        stats.ci95_half_width = student_t_quantile(0.975, n - 1.0) * stats.std / std::sqrt(n);
    }
    return stats;
}

}  // namespace proact::faults
