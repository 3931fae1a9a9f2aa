// A one-line progress bar with rate and ETA, redrawn in place on stderr:
//   train epoch 3/10 [##########..........]  47% 441/938  loss 0.412 acc 85.1%  21034 img/s  ETA 1.4s
// Redraws at most 10 times a second. When stderr is not a terminal (logs, CI) it prints nothing
// until finish(), which prints the final line once.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace proact::core {

class ProgressBar {
public:
    // `total` steps; `unit_per_step` turns steps into the rate's unit (e.g. images per batch).
    ProgressBar(std::string label, int64_t total, bool enabled = true);
    ~ProgressBar();
    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;

    // Marks `done` steps complete; `items` is the running count for the rate (images, trials...),
    // `status` free text shown after the counts.
    void update(int64_t done, int64_t items = -1, const std::string& status = "");
    // Draws the final state and ends the line. Called by the destructor if not called before.
    void finish(const std::string& status = "");
    double elapsed_seconds() const;

    // Globally silence progress output (for --quiet and tests).
    static void set_enabled(bool enabled);
    // Rate unit shown after the items count ("img/s", "trials/s").
    void set_unit(std::string unit) { unit_ = std::move(unit); }

private:
    void draw(bool final);

    std::string label_;
    std::string status_;
    std::string unit_ = "it/s";
    int64_t total_;
    int64_t done_ = 0;
    int64_t items_ = -1;
    bool enabled_;
    bool interactive_;
    bool finished_ = false;
    std::chrono::steady_clock::time_point start_;
    std::chrono::steady_clock::time_point last_draw_;
};

// "1h02m", "3m05s", "4.2s"
std::string format_duration(double seconds);

}  // namespace proact::core
