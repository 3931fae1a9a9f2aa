// Bad input at the command line, as a user meets it: every class of bad input ends with one line
// naming the flag or file and what was expected (exit code 2 for the command line, 1 otherwise),
// no output destroys an input, a failed command leaves the previous outputs and no stray files,
// non-finite weights are refused, and memory that runs out is reported, not aborted on. Below the
// command line: the exception carrier of the OpenMP loops, and the training state a resumed run
// continues from (Adam and dropout: every piece of state a run carries between epochs).
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/file_io.hpp"
#include "core/progress.hpp"
#include "core/safetensors.hpp"
#include "core/threads.hpp"
#include "datasets/synthetic.hpp"
#include "layers/layers.hpp"
#include "support/cli_support.hpp"
#include "support/test_support.hpp"
#include "train/training.hpp"

using namespace proact;
using proact::test::contains;
using proact::test::read_bytes;
using proact::test::TempDir;
using proact::test::count_lines;
using proact::test::kQuiet;
using proact::test::read_text;
using proact::test::Run;
using proact::test::run_proact;
using proact::test::write_file;
using proact::test::write_idx_split;

namespace {

// Names of the files in `dir` that a write left behind (PATH.tmp.<pid>).
std::vector<std::string> temporary_files(const TempDir& dir) {
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.path))
        if (entry.path().filename().string().find(".tmp") != std::string::npos) found.push_back(entry.path().string());
    return found;
}

// A data folder with a trained model in it, shared by the cases that need one.
struct Trained {
    TempDir dir{"proact-robust"};
    std::string data, model;
    Trained() {
        write_idx_split(dir, "train", 100);
        write_idx_split(dir, "t10k", 40);
        data = " --dataset fashion-mnist --data-dir " + dir.path.string();
        model = dir.file("model.safetensors");
        const Run train = run_proact(dir, "train --epochs 1 --batch-size 32 --no-test --out " + model + data + kQuiet);
        REQUIRE_MESSAGE(train.exit_code == 0, train.err);
    }
};

}  // namespace

TEST_CASE("every class of bad flag gets one line naming the flag, the allowed range and what was given") {
    Trained t;
    const std::string m = " --model-file " + t.model;
    struct Case {
        std::string arguments, message;
    };
    const std::vector<Case> cases = {
        {"train --seed -1", "--seed: expected a whole number from 0 to 18446744073709551615, got '-1'"},
        {"train --seed 18446744073709551616", "got '18446744073709551616'"},
        {"train --epochs 010", "--epochs: expected a whole number from 0 to 100000, got '010' (write it in decimal"},
        {"train --epochs 0x10", "--epochs: expected a whole number from 0 to 100000, got '0x10'"},
        {"train --epochs 100001", "--epochs: expected a whole number from 0 to 100000, got '100001'"},
        {"train --epochs ' 5'", "got ' 5'"},
        {"train --epochs +5", "got '+5'"},
        {"train --threads 1025", "--threads: expected a whole number from 0 to 1024, got '1025'"},
        {"train --threads -1", "--threads: expected a whole number from 0 to 1024, got '-1'"},
        {"train --batch-size 0", "--batch-size: expected a whole number from 1 to 1048576, got '0'"},
        {"eval" + m + " --batch-size 4294967297", "--batch-size: expected a whole number from 1 to 1048576"},
        {"inject" + m + " --trials 1000001", "--trials: expected a whole number from 1 to 1000000, got '1000001'"},
        {"inject" + m + " --trials 1e3", "--trials: expected a whole number from 1 to 1000000, got '1e3'"},
        {"inject" + m + " --k 1,-2 --fault-model exact", "--k: expected a whole number from 0 to 1099511627776, got '-2'"},
        {"reproduce --out-dir x --replicates 101", "--replicates: expected a whole number from 1 to 100"},
        {"demo --epochs 0", "--epochs: expected a whole number from 1 to 100000, got '0'"},
        {"train --lr nan", "--lr: expected a number > 0, got 'nan'"},
        {"train --lr inf", "--lr: expected a number > 0, got 'inf'"},
        {"train --momentum nan", "--momentum: expected a number from 0 to 1, got 'nan'"},
        {"train --val-fraction 1e999", "--val-fraction: expected a number from 0 to 0.9, got '1e999'"},
        {"harden" + m + " --out h.safetensors --slope 0", "--slope: expected a number > 0, got '0'"},
        {"harden" + m + " --out h.safetensors --decays 0.1,nan", "--decays: expected a number >= 0, got 'nan'"},
        {"inject" + m + " --resume", "--resume requires --json"},
        {"inject" + m + " --shard 0/4294967297", "--shard: shard '0/4294967297': expected i/n"},
        {"inject" + m + " --format q40.40", "--format: storage format Q40.40: bit counts must be in 0..31"},
        {"inject" + m + " --ber 1e-3,2", "--ber: BER 2 outside [0, 1]"},
        {"inject" + m + " --fault-model wat", "--fault-model: fault model 'wat': expected one of"},
        {"train --image-shape 3,0,2", "--image-shape: parse_shape: '3,0,2' is not a comma-separated list"},
        {"frobnicate --seed 1", "unknown command 'frobnicate' (commands: train, eval, demo, inject, merge, harden, "
                                "reproduce, tune"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.arguments);
        const Run run = run_proact(t.dir, c.arguments + t.data + kQuiet);
        CHECK(run.exit_code == 2);
        CHECK(count_lines(run.err) == 1);
        CHECK_MESSAGE(contains(run.err, c.message), run.err);
    }
    // The largest seed is a seed like any other.
    const Run largest = run_proact(t.dir, "train --seed 18446744073709551615 --epochs 0 --no-test --out " +
                                              t.dir.file("s.safetensors") + t.data + kQuiet);
    CHECK_MESSAGE(largest.exit_code == 0, largest.err);
}

TEST_CASE("an output that is an input, or cannot be written, is refused before any work, naming both") {
    Trained t;
    const std::vector<unsigned char> model_bytes = read_bytes(t.model);
    const std::string campaign =
        "inject --model-file " + t.model + t.data + kQuiet + " --format float32 --ber 1e-3 --trials 2";
    const std::string shard = t.dir.file("shard.json");
    REQUIRE(run_proact(t.dir, campaign + " --json " + shard).exit_code == 0);
    const std::vector<unsigned char> shard_bytes = read_bytes(shard);
    std::filesystem::create_hard_link(t.model, t.dir.file("hard.safetensors"));
    std::filesystem::create_symlink(t.model, t.dir.file("soft.safetensors"));
    std::filesystem::create_hard_link(t.model, t.dir.file("proact.safetensors"));  // what reproduce names its output
    std::filesystem::create_directories(t.dir.file("folder"));
    write_file(t.dir.file("plain"), std::string("a file\n"));
    const std::string relative = (std::filesystem::path(t.dir.path.filename()) / "model.safetensors").string();
    struct Case {
        std::string arguments, message;
    };
    const std::string eval = "eval" + t.data + kQuiet + " --model-file ";
    const std::vector<Case> cases = {
        {eval + t.model + " --json " + t.model,
         "--json '" + t.model + "' is the same file as --model-file '" + t.model + "': an output must not overwrite"},
        {eval + t.model + " --json " + t.dir.file("hard.safetensors"), "is the same file as --model-file"},
        {eval + t.dir.file("soft.safetensors") + " --json " + t.model, "is the same file as --model-file"},
        {eval + t.model + " --json " + t.dir.file("./folder/../model.safetensors"), "is the same file"},
        {eval + t.model + " --json " + t.dir.file("train-images-idx3-ubyte"),
         "is the file '" + t.dir.file("train-images-idx3-ubyte") + "' of data set fashion-mnist"},
        {"train --epochs 1 --out " + t.dir.file("t10k-labels-idx1-ubyte") + t.data + kQuiet, "of data set fashion-mnist"},
        {campaign + " --json " + shard + " --plot-with " + shard, "is the same file as --plot-with"},
        {campaign + " --csv " + shard + " --compare-with " + shard, "is the same file as --compare-with"},
        {"merge --quiet " + shard + " --json " + shard, "--json '" + shard + "' is the same file as shard"},
        {campaign + " --csv " + t.dir.file("x") + " --json " + t.dir.file("x"),
         "are the same file: the second write would replace the first"},
        {eval + t.model + " --json " + t.dir.file("folder"), "is a folder; expected a file path"},
        {eval + t.model + " --json " + t.dir.file("folder") + "/", "names a folder"},
        {eval + t.model + " --json " + t.dir.file("plain") + "/x.json",
         "cannot be written: '" + t.dir.file("plain") + "' is not a folder"},
        {eval + t.model + " --json /dev/null", "exists and is not a regular file"},
        {"harden --model-file " + t.model + " --out " + t.model + t.data + kQuiet,
         "--out '" + t.model + "' is the same file as --model-file"},
        {"tune --model-file " + t.model + " --out-dir " + t.dir.file("plain") + t.data + kQuiet,
         "--out-dir '" + t.dir.file("plain") + "' exists and is not a folder"},
        {"reproduce --model-file " + t.dir.file("proact.safetensors") + " --methods proact --no-times --out-dir " +
             t.dir.path.string() + t.data + kQuiet,
         "--out-dir '" + t.dir.file("proact.safetensors") + "' is the same file as --model-file"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.arguments);
        const Run run = run_proact(t.dir, c.arguments);
        CHECK(run.exit_code == 1);
        CHECK(count_lines(run.err) == 1);
        CHECK_MESSAGE(contains(run.err, c.message), run.err);
        CHECK(run.out.empty());  // refused before any work
    }
    CHECK(read_bytes(t.model) == model_bytes);
    CHECK(read_bytes(shard) == shard_bytes);
    CHECK(temporary_files(t.dir).empty());
    // A path written relative to the working folder is the same file too.
    const std::string from_parent = "cd '" + t.dir.path.parent_path().string() + "' && ";
    const Run relative_run = run_proact(t.dir, "eval --model-file " + t.model + " --json " + relative + t.data + kQuiet,
                                        from_parent);
    CHECK(relative_run.exit_code == 1);
    CHECK(contains(relative_run.err, "is the same file as --model-file"));
    // An output beside the data that is not one of its files is fine.
    const Run beside = run_proact(t.dir, "eval --model-file " + t.model + " --json " + t.dir.file("eval.json") + t.data + kQuiet);
    CHECK_MESSAGE(beside.exit_code == 0, beside.err);
}

TEST_CASE("a failed command leaves the previous outputs as they were and no temporary file") {
    Trained t;
    const std::string out = t.dir.file("out.safetensors"), log = t.dir.file("out.csv");
    write_file(out, std::string("previous model\n"));
    write_file(log, std::string("previous log\n"));
    // A learning rate this large makes the loss overflow within the first epoch.
    const Run diverged = run_proact(t.dir, "train --epochs 2 --batch-size 32 --lr 1e30 --no-test --out " + out +
                                               " --log " + log + t.data + kQuiet);
    CHECK(diverged.exit_code == 1);
    CHECK(count_lines(diverged.err) == 1);
    CHECK(contains(diverged.err, "train: loss is"));
    CHECK(read_text(out) == "previous model\n");
    CHECK(read_text(log) == "previous log\n");
    CHECK(temporary_files(t.dir).empty());

    // A write that fails (the target is a folder) removes its temporary file.
    std::filesystem::create_directories(t.dir.file("taken"));
    CHECK_THROWS_AS(core::write_file_atomically(t.dir.file("taken"), "bytes"), core::IoError);
    CHECK_THROWS_AS(core::read_file(t.dir.file("taken")), core::IoError);
    CHECK(temporary_files(t.dir).empty());
}

TEST_CASE("eval and inject refuse weights holding NaN or Inf, naming the tensors, unless --allow-nonfinite") {
    Trained t;
    core::TensorFile file = core::load_safetensors(t.model);
    core::Tensor& weight = file.tensors.at("features.0.weight");
    weight.data()[0] = std::numeric_limits<float>::quiet_NaN();
    weight.data()[3] = std::numeric_limits<float>::infinity();
    file.tensors.at("classifier.4.bias").data()[1] = -std::numeric_limits<float>::infinity();
    const std::string broken = t.dir.file("broken.safetensors");
    core::save_safetensors(broken, file);
    for (const std::string command : {"eval", "inject --ber 1e-3 --trials 2 --format float32"}) {
        CAPTURE(command);
        const Run refused = run_proact(t.dir, command + " --model-file " + broken + t.data + kQuiet);
        CHECK(refused.exit_code == 1);
        CHECK(count_lines(refused.err) == 1);
        CHECK_MESSAGE(contains(refused.err, broken + " holds 3 NaN or Inf values in 2 tensors: features.0.weight (2 of "
                                                     "150), classifier.4.bias (1 of 10); pass --allow-nonfinite"),
                      refused.err);
        const Run allowed = run_proact(t.dir, command + " --allow-nonfinite --model-file " + broken + t.data + kQuiet);
        CHECK_MESSAGE(allowed.exit_code == 0, allowed.err);
    }
}

#if !defined(__SANITIZE_ADDRESS__)  // the sanitizers' shadow memory does not fit under ulimit -v
TEST_CASE("memory that runs out ends with the command and the flag that asked for it, not an abort") {
    TempDir dir("proact-robust-memory");
    // A tiny image folder (BMP, two classes) decoded at an absurd but valid size.
    for (const char* split : {"train", "test"})
        for (const char* label : {"a", "b"}) {
            const std::filesystem::path folder = dir.path / split / label;
            std::filesystem::create_directories(folder);
            std::vector<unsigned char> bmp = {'B', 'M'};
            const auto put_le = [&bmp](uint32_t value, int bytes) {
                for (int i = 0; i < bytes; ++i) bmp.push_back(static_cast<unsigned char>(value >> (8 * i)));
            };
            put_le(54 + 4 * 4 * 3, 4), put_le(0, 4), put_le(54, 4), put_le(40, 4), put_le(4, 4), put_le(4, 4);
            put_le(1, 2), put_le(24, 2), put_le(0, 4), put_le(4 * 4 * 3, 4), put_le(2835, 4), put_le(2835, 4);
            put_le(0, 4), put_le(0, 4);
            for (int i = 0; i < 4 * 4 * 3; ++i) bmp.push_back(static_cast<unsigned char>(label[0] == 'a' ? 40 : 200));
            write_file((folder / "0.bmp").string(), bmp);
        }
    const Run run = run_proact(dir,
                               "train --dataset folder --data-dir " + dir.path.string() +
                                   " --image-shape 3,20000,20000 --epochs 1 --out " + dir.file("m.safetensors") + kQuiet,
                               "ulimit -v 4000000; ");
    CHECK(run.exit_code == 1);  // not 134 (abort) or a signal
    CHECK(count_lines(run.err) == 1);
    CHECK_MESSAGE(contains(run.err, "error: train: out of memory ("), run.err);
    CHECK_MESSAGE(contains(run.err, "--image-shape: each image decoded at 3,20000,20000, 4.8 GB"), run.err);
}
#endif

TEST_CASE("an exception thrown inside an OpenMP loop reaches the caller once the loop has ended") {
    core::ExceptionCarrier carrier;
    std::vector<int> ran(1000, 0);
#pragma omp parallel for schedule(dynamic) num_threads(4)
    for (int i = 0; i < 1000; ++i)
        carrier.run([&] {
            if (i == 10 || i == 500) throw std::length_error("iteration " + std::to_string(i));
            ran[static_cast<size_t>(i)] = 1;
        });
    CHECK(carrier.failed());
    const std::string message = test::message_of<std::length_error>([&] { carrier.rethrow(); });
    CHECK((message == "iteration 10" || message == "iteration 500"));
    core::ExceptionCarrier clean;
#pragma omp parallel for num_threads(4)
    for (int i = 0; i < 100; ++i) clean.run([&] { ran[static_cast<size_t>(i)] = 2; });
    CHECK_NOTHROW(clean.rethrow());
    CHECK(ran[99] == 2);
}

TEST_CASE("training resumed from its state file ends with the bits of an uninterrupted run (Adam, dropout)") {
    core::ProgressBar::set_enabled(false);
    TempDir dir("proact-robust-state");
    const datasets::Dataset blobs = datasets::gaussian_blobs(120, 3, 2, 0.8f, 5);
    const auto model_of = [] {
        core::Rng rng(7, "init");
        auto model = std::make_shared<layers::Sequential>();
        model->add(std::make_shared<layers::Linear>(2, 16, rng));
        model->add(std::make_shared<layers::ReLU>());
        model->add(std::make_shared<layers::Dropout>(0.3f, 11));
        model->add(std::make_shared<layers::Linear>(16, 3, rng));
        return model;
    };
    train::TrainOptions options;
    options.epochs = 4;
    options.batch_size = 16;
    options.optimizer = "adam";
    options.lr = 0.01f;
    options.seed = 3;
    options.progress = false;
    const auto whole = model_of();
    train::train_classifier(*whole, blobs, &blobs, options);

    train::ResumeOptions resume{dir.file("state.partial"), true, {{"model", "mlp"}}};
    const auto first = model_of();
    const auto interrupt = [](const train::EpochLog& epoch) {
        if (epoch.epoch == 2) throw std::runtime_error("interrupted");
    };
    CHECK_THROWS_AS(train::train_classifier(*first, blobs, &blobs, options, interrupt, resume), std::runtime_error);
    const auto resumed = model_of();
    int new_epochs = 0;
    const auto history = train::train_classifier(*resumed, blobs, &blobs, options,
                                                 [&](const train::EpochLog&) { ++new_epochs; }, resume);
    CHECK(new_epochs == 2);
    REQUIRE(history.size() == 4);
    CHECK(history[0].epoch == 1);
    const auto expected = whole->state_dict(), actual = resumed->state_dict();
    for (const auto& [name, value] : expected) {
        CAPTURE(name);
        const core::Tensor& other = actual.at(name);
        REQUIRE(other.numel() == value.numel());
        CHECK(std::memcmp(other.data(), value.data(), sizeof(float) * size_t(value.numel())) == 0);
    }

    // A state of other settings is refused by name, the model left as it was.
    options.lr = 0.02f;
    const auto other = model_of();
    const std::string message =
        test::message_of<core::ValueError>([&] { train::train_classifier(*other, blobs, &blobs, options, {}, resume); });
    CHECK(contains(message, "was written by a run with train.lr 0.01, this run has 0.02"));
}
