#include "core/progress.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace proact::core {

namespace {
std::atomic<bool> progress_enabled{true};
constexpr auto kLogInterval = std::chrono::seconds(30);
}

void ProgressBar::set_enabled(bool enabled) { progress_enabled = enabled; }

std::string format_duration(double seconds) {
    char text[32];
    if (seconds < 0 || seconds != seconds) return "?";
    if (seconds < 60) {
        std::snprintf(text, sizeof text, "%.1fs", seconds);
    } else if (seconds < 3600) {
        const int s = static_cast<int>(seconds);
        std::snprintf(text, sizeof text, "%dm%02ds", s / 60, s % 60);
    } else {
        const int m = static_cast<int>(seconds / 60);
        std::snprintf(text, sizeof text, "%dh%02dm", m / 60, m % 60);
    }
    return text;
}

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && progress_enabled),
      interactive_(isatty(STDERR_FILENO) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

ProgressBar::~ProgressBar() {
    if (!finished_) finish(status_);
}

double ProgressBar::elapsed_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressBar::update(int64_t done, int64_t items, const std::string& status) {
    done_ = done;
    items_ = items;
    status_ = status;
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!interactive_) {
        // A log file gets a whole line every kLogInterval, so a long run piped to a file still
        // says where it is and its ETA; the final line comes from finish().
        if (now - last_draw_ < kLogInterval || done_ >= total_) return;
        last_draw_ = now;
        draw(true);
        return;
    }
    if (now - last_draw_ < std::chrono::milliseconds(100) && done_ < total_) return;
    last_draw_ = now;
    draw(false);
}

void ProgressBar::finish(const std::string& status) {
    if (finished_) return;
    finished_ = true;
    status_ = status;
    if (!enabled_) return;
    draw(true);
}

// final: end the line (the last draw, or a line of a log file); the ETA until finish().
void ProgressBar::draw(bool final) {
    const double elapsed = elapsed_seconds();
    const double fraction = total_ > 0 ? double(done_) / double(total_) : 1.0;
    constexpr int width = 20;
    const int filled = static_cast<int>(fraction * width + 1e-9);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(width - filled), '.');
    std::string rate;
    if (items_ >= 0 && elapsed > 0) {
        char text[48];
        std::snprintf(text, sizeof text, "  %.0f %s", double(items_) / elapsed, unit_.c_str());
        rate = text;
    }
    const std::string timing = finished_ || done_ >= total_
                                   ? "  " + format_duration(elapsed)
                                   : "  ETA " + (done_ > 0 ? format_duration(elapsed / double(done_) * double(total_ - done_))
                                                           : std::string("?"));
    std::fprintf(stderr, "%s%s [%s] %3d%% %lld/%lld  %s%s%s%s", interactive_ ? "\r\033[2K" : "", label_.c_str(),
                 bar.c_str(), static_cast<int>(fraction * 100), static_cast<long long>(done_),
                 static_cast<long long>(total_), status_.c_str(), rate.c_str(), timing.c_str(), final ? "\n" : "");
    std::fflush(stderr);
}

}  // namespace proact::core
