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
