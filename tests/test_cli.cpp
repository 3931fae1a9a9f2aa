// The built `proact` command line itself, run as a user runs it: a tiny train on generated IDX
// files, eval, inject (in each storage format), sharded inject + merge (the same bytes as one
// run), bad input (exit code 2 and one line on stderr for bad flags; a clear error and untouched
// outputs for a bad model file), train, inject and harden killed midway (SIGKILL) then resumed: the
// same bytes as an uninterrupted run, and vuln (its files, the same bytes for one seed on 1 and 2
// threads, its bad flags).
// tests/test_cli_robustness.cpp holds the other classes of bad input.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "faults/storage_format.hpp"
#include "layers/checkpoint.hpp"
#include "support/cli_support.hpp"
#include "support/test_support.hpp"

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


// Starts `proact ARGUMENTS` in the background, waits until `file` appears (a run's first partial
// state), then kills it with SIGKILL: no handler runs, as when a machine goes down. True when the
// run was killed; false when it ended first or `file` never appeared within a minute.
bool kill_when_written(const std::string& arguments, const std::string& file) {
    const std::string command = "exec '" + std::string(PROACT_BINARY) + "' " + arguments + " >/dev/null 2>&1";
    const pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    REQUIRE(pid > 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!std::filesystem::exists(file) && std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) return false;  // ended before writing it
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

}  // namespace

TEST_CASE("train, eval, inject and merge run end to end on a tiny data set") {
    TempDir dir("proact-cli");
    write_idx_split(dir, "train", 200);
    write_idx_split(dir, "t10k", 100);
    const std::string data = " --dataset fashion-mnist --data-dir " + dir.path.string();
    const std::string model = dir.file("model.safetensors");

    const Run train = run_proact(dir, "train --model lenet5 --epochs 1 --batch-size 32 --seed 1 --out " + model + data + kQuiet);
    REQUIRE_MESSAGE(train.exit_code == 0, train.err);
    CHECK(contains(train.out, "saved " + model));
    CHECK(contains(train.out, "test accuracy"));
    CHECK(read_bytes(model).size() > 1000);

    const Run eval = run_proact(dir, "eval --model-file " + model + data + " --json " + dir.file("eval.json") + kQuiet);
    REQUIRE_MESSAGE(eval.exit_code == 0, eval.err);
    CHECK(contains(eval.out, "confusion matrix"));
    CHECK(contains(eval.out, "100 images in "));  // and its throughput
    CHECK(contains(eval.out, " images/s (batch 100, 1 threads)"));
    CHECK(contains(eval.out, "wrote " + dir.file("eval.json")));
    CHECK(contains(read_text(dir.file("eval.json")), "\"total\": 100"));

    const std::string campaign = "inject --model-file " + model + data +
                                 " --format float32 --ber 1e-3 --trials 4 --seed 2" + kQuiet;
    const Run whole = run_proact(dir, campaign + " --json " + dir.file("whole.json"));
    REQUIRE_MESSAGE(whole.exit_code == 0, whole.err);
    CHECK(contains(whole.out, "wrote " + dir.file("whole.json")));
    for (int shard = 0; shard < 2; ++shard) {
        const std::string path = dir.file("shard" + std::to_string(shard) + ".json");
        const Run part = run_proact(dir, campaign + " --shard " + std::to_string(shard) + "/2 --json " + path);
        REQUIRE_MESSAGE(part.exit_code == 0, part.err);
    }
    const Run merge = run_proact(dir, "merge " + dir.file("shard0.json") + " " + dir.file("shard1.json") + " --json " +
                                      dir.file("merged.json"));
    REQUIRE_MESSAGE(merge.exit_code == 0, merge.err);
    const std::vector<unsigned char> merged = read_bytes(dir.file("merged.json"));
    CHECK(!merged.empty());
    CHECK(merged == read_bytes(dir.file("whole.json")));

    // The other storage formats: the weights put on the format's grid once, then faulted as words.
    for (const std::string format : {"bf16", "fp16", "int8"}) {
        CAPTURE(format);
        const std::string json = dir.file(format + ".json");
        const Run run = run_proact(dir, "inject --model-file " + model + data + " --format " + format +
                                            " --ber 1e-2 --trials 3 --seed 2 --json " + json + kQuiet);
        REQUIRE_MESSAGE(run.exit_code == 0, run.err);
        CHECK(contains(read_text(json), "\"format\": \"" + format + "\""));
    }
    const Run bad_format = run_proact(dir, "inject --model-file " + model + data + " --format int9" + kQuiet);
    CHECK(bad_format.exit_code == 2);
    CHECK(contains(bad_format.err, "int9"));
    CHECK(contains(bad_format.err, "float32, bf16, fp16, int8 or Qm.n"));
}

TEST_CASE("bad flags exit with code 2 and one line on stderr") {
    TempDir dir("proact-cli");
    const std::vector<std::string> bad_command_lines = {"train --no-such-flag", "train --epochs many",
                                                        "train --model lenet6",
                                                        "inject --model-file " + dir.file("missing.safetensors"),
                                                        "frobnicate", ""};
    for (const std::string& arguments : bad_command_lines) {
        CAPTURE(arguments);
        const Run run = run_proact(dir, arguments);
        CHECK(run.exit_code == 2);
        CHECK(count_lines(run.err) == 1);
        CHECK(contains(run.err, "error: "));
    }
    CHECK(contains(run_proact(dir, "train --epochs many").err, "--epochs: expected a whole number from 0 to 100000, got 'many'"));
    CHECK(contains(run_proact(dir, "train --lr 0").err, "--lr: expected a number > 0, got '0'"));
}

TEST_CASE("a corrupt model file fails clearly and leaves the outputs as they were") {
    TempDir dir("proact-cli");
    write_idx_split(dir, "t10k", 20);
    const std::string bad = dir.file("bad.safetensors");
    write_file(bad, std::string("not a model"));
    const std::string previous = dir.file("previous.json");
    write_file(previous, std::string("{}\n"));
    const std::string data = " --dataset fashion-mnist --data-dir " + dir.path.string();
    for (const char* command : {"eval", "inject"}) {
        CAPTURE(command);
        const Run run = run_proact(dir, std::string(command) + " --model-file " + bad + data + " --json " + previous + kQuiet);
        CHECK(run.exit_code == 1);
        CHECK(count_lines(run.err) == 1);
        CHECK(contains(run.err, bad));
        CHECK(read_text(previous) == "{}\n");
    }
}

TEST_CASE("help lists the names the registries define") {
    TempDir dir("proact-cli");
    const Run train = run_proact(dir, "train --help");
    CHECK(train.exit_code == 0);
    for (const char* name : {"lenet5", "resnet20", "vgg16_bn", "fashion-mnist", "cifar100", "sgd | adam | adamw",
                             "constant | step | cosine"})
        CHECK_MESSAGE(contains(train.out, name), name);
    const Run inject = run_proact(dir, "inject --help");
    CHECK(contains(inject.out, "1e-7,3e-7,1e-6,3e-6,1e-5,3e-5,1e-4"));
    CHECK(contains(inject.out, "float32, bf16, fp16, int8 or Qm.n"));
}

TEST_CASE("reproduce --quick runs every asked method with the quick settings, FitAct's included") {
    TempDir dir("proact-cli-reproduce");
    write_idx_split(dir, "train", 200);
    write_idx_split(dir, "t10k", 100);
    const std::string data = " --dataset fashion-mnist --data-dir " + dir.path.string();
    const std::string out = dir.file("out");
    const Run run = run_proact(dir, "reproduce --quick --methods ranger,fitact,proact,proact+guard --ber 1e-3 --out-dir " +
                                        out + data + kQuiet);
    REQUIRE_MESSAGE(run.exit_code == 0, run.err);
    const std::string results = read_text(out + "/results.md");
    CHECK(contains(results, "| fitact |"));
    CHECK(contains(results, "adam lr 0.003 decay 0; epochs 1;"));        // FitAct: one epoch under --quick
    CHECK(contains(results, "train images 2000"));                // ProAct's and FitAct's cap
    CHECK(contains(results, "| proact+guard |"));
    CHECK(contains(read_text(out + "/results.json"), "\"method\": \"proact+guard\""));

    const Run zero = run_proact(dir, "reproduce --fitact-epochs 0 --out-dir " + out + data + kQuiet);
    CHECK(zero.exit_code == 2);
    CHECK(contains(zero.err, "--fitact-epochs"));
}

TEST_CASE("inject and reproduce --site activations fault computed values and say so") {
    TempDir dir("proact-cli-site");
    write_idx_split(dir, "train", 200);
    write_idx_split(dir, "t10k", 100);
    const std::string data = " --dataset fashion-mnist --data-dir " + dir.path.string();
    const std::string model = dir.file("model.safetensors");
    REQUIRE(run_proact(dir, "train --epochs 1 --batch-size 32 --no-test --out " + model + data + kQuiet).exit_code == 0);
    const Run inject = run_proact(dir, "inject --model-file " + model + " --format float32 --ber 1e-4 --trials 3 --site "
                                       "activations --activation-layers 'classifier.*' --json " + dir.file("a.json") +
                                       data + kQuiet);
    REQUIRE_MESSAGE(inject.exit_code == 0, inject.err);
    CHECK(contains(inject.out, "faults in the outputs of classifier.0,classifier.1,classifier.2,classifier.3,classifier.4 per image"));
    CHECK(contains(read_text(dir.file("a.json")), "\"site\": \"activations\""));
    const Run wrong = run_proact(dir, "inject --model-file " + model + " --site activations --activation-layers 'x.*'" +
                                      data + kQuiet);
    CHECK(wrong.exit_code == 1);
    CHECK(contains(wrong.err, "pattern 'x.*' matches no module"));
    const Run unknown = run_proact(dir, "inject --model-file " + model + " --site everywhere" + data + kQuiet);
    CHECK(unknown.exit_code == 2);

    const std::string out = dir.file("out");
    const Run reproduce = run_proact(dir, "reproduce --quick --methods ranger,guard,proact --ber 1e-3 --site activations "
                                          "--model-file " + model + " --out-dir " + out + data + kQuiet);
    REQUIRE_MESSAGE(reproduce.exit_code == 0, reproduce.err);
    CHECK(contains(read_text(out + "/results.md"), "faults strike activations only (the range guard protects stored "
                                                   "weights only)"));
    CHECK(contains(read_text(out + "/results.json"), "\"site\": \"activations\""));
}

TEST_CASE("harden and tune go through the method registry; the validation split is the checkpoint's") {
    TempDir dir("proact-cli-harden");
    write_idx_split(dir, "train", 200);
    write_idx_split(dir, "t10k", 100);
    const std::string data = " --dataset fashion-mnist --data-dir " + dir.path.string();
    const std::string model = dir.file("model.safetensors");
    const Run train = run_proact(dir, "train --model lenet5 --epochs 1 --batch-size 32 --seed 3 --val-fraction 0.2 --out " +
                                          model + data + kQuiet);
    REQUIRE_MESSAGE(train.exit_code == 0, train.err);

    // Another --seed does not move the validation split: the checkpoint's record decides it.
    const std::string hardened = dir.file("proact.safetensors");
    const Run harden = run_proact(dir, "harden --method proact --model-file " + model + " --out " + hardened +
                                           " --epochs-scalar 1 --epochs-neuron 1 --decays 0.04 --profile-images 32 --seed 9" +
                                           data + " --log " + dir.file("h.json") + kQuiet);
    REQUIRE_MESSAGE(harden.exit_code == 0, harden.err);
    CHECK(contains(harden.out, "validation: 40 images held out with seed 3 and fraction 0.2 (as the checkpoint records)"));
    CHECK(contains(harden.out, "hardened proact"));
    CHECK(contains(read_text(dir.file("h.json")), "\"tolerance_reference\": \"original\""));
    // The thresholds are stored words like the weights: on the Q15.16 grid in the checkpoint.
    int64_t thresholds = 0;
    for (const auto& [name, value] : proact::layers::load_checkpoint(hardened).tensors) {
        if (!name.ends_with("threshold")) continue;
        for (float v : value.contiguous().span()) {
            ++thresholds;
            CHECK(v == proact::faults::StorageFormat::fixed_point(15, 16).quantize(v));
        }
    }
    CHECK(thresholds > 0);
    const Run eval = run_proact(dir, "eval --model-file " + hardened + data + kQuiet);
    CHECK_MESSAGE(eval.exit_code == 0, eval.err);

    // A --val-fraction that contradicts the record is refused by name; nothing is written.
    const Run conflict = run_proact(dir, "harden --method ranger --model-file " + model + " --out " + dir.file("r.safetensors") +
                                             " --val-fraction 0.3" + data + kQuiet);
    CHECK(conflict.exit_code == 1);
    CHECK(contains(conflict.err, "--val-fraction 0.3 conflicts with the validation fraction 0.2"));
    CHECK_FALSE(std::ifstream(dir.file("r.safetensors")).good());

    const Run unknown = run_proact(dir, "harden --method proactt --model-file " + model + " --out " + dir.file("x") + data + kQuiet);
    CHECK(unknown.exit_code == 2);

    const Run tune = run_proact(dir, "tune --method ranger --model-file " + model + " --ber 1e-3 --trials 2 --profile-images 32 --max-clean-drop 100"
                                         " --out-dir " + dir.file("tune") + data + kQuiet);
    REQUIRE_MESSAGE(tune.exit_code == 0, tune.err);
    CHECK(contains(tune.out, "Best: the defaults"));
    CHECK(contains(read_text(dir.file("tune/tune.json")), "\"fault_purpose\": \"tuning\""));
    const Run bad_grid = run_proact(dir, "tune --method proact --grid decay=0.4 --model-file " + model + " --out-dir " +
                                             dir.file("tune2") + data + kQuiet);
    CHECK(bad_grid.exit_code != 0);
    CHECK(contains(bad_grid.err, "has no option 'decay'"));
}

TEST_CASE("demo runs end to end on a tiny data set: every file it names exists") {
    TempDir dir("proact-cli-demo");
    write_idx_split(dir, "train", 300);
    write_idx_split(dir, "t10k", 100);
    const std::string out = dir.file("out");
    const Run demo = run_proact(dir, "demo --epochs 1 --trials 2 --data-dir " + dir.path.string() + " --out-dir " + out + kQuiet);
    REQUIRE_MESSAGE(demo.exit_code == 0, demo.err);
    CHECK(contains(demo.out, "Paired difference against ProAct"));
    for (const char* file : {"lenet5.safetensors", "lenet5_proact.safetensors", "train_log.csv", "proact_log.json",
                             "campaign.csv", "campaign_float32.svg", "campaign_q15.16.svg", "comparison/results.md",
                             "comparison/results.csv", "comparison/results.json", "comparison/results.svg"})
        CHECK_MESSAGE(std::filesystem::exists(out + "/" + file), file);
}

TEST_CASE("train killed after an epoch and resumed writes the checkpoint of an uninterrupted run, byte for byte") {
    TempDir dir("proact-cli-resume");
    write_idx_split(dir, "train", 2000);  // enough that an epoch outlasts the kill
    write_idx_split(dir, "t10k", 20);
    const std::string train = "train --model lenet5 --epochs 4 --batch-size 32 --seed 4 --no-test --dataset "
                              "fashion-mnist --data-dir " + dir.path.string() + kQuiet;
    const Run whole = run_proact(dir, train + " --out " + dir.file("whole.safetensors"));
    REQUIRE_MESSAGE(whole.exit_code == 0, whole.err);
    CHECK_FALSE(std::filesystem::exists(dir.file("whole.safetensors.partial")));  // removed once done

    const std::string resumed = dir.file("resumed.safetensors");
    REQUIRE(kill_when_written(train + " --out " + resumed, resumed + ".partial"));
    CHECK_FALSE(std::filesystem::exists(resumed));  // written once, at the end
    // Other settings do not continue that run: refused by name, the state kept.
    const Run other = run_proact(dir, train + " --lr 0.01 --resume --out " + resumed);
    CHECK(other.exit_code == 1);
    CHECK(contains(other.err, "was written by a run with lr 0.05, this run has 0.01"));
    const Run again = run_proact(dir, train + " --resume --out " + resumed);
    REQUIRE_MESSAGE(again.exit_code == 0, again.err);
    CHECK(read_bytes(resumed) == read_bytes(dir.file("whole.safetensors")));
    CHECK(count_lines(read_text(resumed + ".log.csv")) == 5);  // header and all four epochs
    CHECK_FALSE(std::filesystem::exists(resumed + ".partial"));
}

TEST_CASE("inject killed after a BER and resumed writes the JSON of an uninterrupted run, byte for byte") {
    TempDir dir("proact-cli-resume");
    write_idx_split(dir, "train", 200);
    write_idx_split(dir, "t10k", 100);
    const std::string data = " --dataset fashion-mnist --data-dir " + dir.path.string();
    const std::string model = dir.file("model.safetensors");
    REQUIRE(run_proact(dir, "train --epochs 1 --batch-size 32 --no-test --out " + model + data + kQuiet).exit_code == 0);
    const std::string campaign = "inject --model-file " + model + data +
                                 " --format float32 --ber 1e-4,1e-3,3e-3 --seed 2" + kQuiet;
    const std::string trials = " --trials 300";
    const Run whole = run_proact(dir, campaign + trials + " --json " + dir.file("whole.json") + " --csv " +
                                          dir.file("whole.csv"));
    REQUIRE_MESSAGE(whole.exit_code == 0, whole.err);
    // With --json the points run one at a time; without, as one campaign: the same numbers.
    const Run single = run_proact(dir, campaign + trials + " --csv " + dir.file("single.csv"));
    REQUIRE_MESSAGE(single.exit_code == 0, single.err);
    CHECK(read_bytes(dir.file("single.csv")) == read_bytes(dir.file("whole.csv")));

    const std::string json = dir.file("resumed.json");
    REQUIRE(kill_when_written(campaign + trials + " --json " + json, json + ".partial"));
    CHECK(contains(read_text(json + ".partial"), "\"proact_inject_partial\": 1"));
    const Run other = run_proact(dir, campaign + " --trials 299 --resume --json " + json);
    CHECK(other.exit_code == 1);
    CHECK(contains(other.err, "was written by a campaign with trials 300, this one has 299"));
    const Run again = run_proact(dir, campaign + trials + " --resume --json " + json + " --csv " + dir.file("resumed.csv"));
    REQUIRE_MESSAGE(again.exit_code == 0, again.err);
    CHECK(read_bytes(json) == read_bytes(dir.file("whole.json")));
    CHECK_FALSE(std::filesystem::exists(json + ".partial"));
}

TEST_CASE("harden killed after a ProAct layer and resumed writes the checkpoint of an uninterrupted run, byte for byte") {
    TempDir dir("proact-cli-resume");
    write_idx_split(dir, "train", 2000);
    write_idx_split(dir, "t10k", 20);
    const std::string data = " --dataset fashion-mnist --data-dir " + dir.path.string();
    const std::string model = dir.file("model.safetensors");
    REQUIRE(run_proact(dir, "train --epochs 1 --batch-size 32 --no-test --out " + model + data + kQuiet).exit_code == 0);
    const std::string base = "harden --model-file " + model + data + " --seed 3" + kQuiet;
    const std::string harden = base + " --method proact";
    const Run whole = run_proact(dir, harden + " --out " + dir.file("whole.safetensors") + " --log " + dir.file("whole.json"));
    REQUIRE_MESSAGE(whole.exit_code == 0, whole.err);
    CHECK_FALSE(std::filesystem::exists(dir.file("whole.safetensors.partial")));

    const std::string resumed = dir.file("resumed.safetensors");
    REQUIRE(kill_when_written(harden + " --out " + resumed, resumed + ".partial"));
    CHECK_FALSE(std::filesystem::exists(resumed));
    const Run other = run_proact(dir, harden + " --tolerance 1 --resume --out " + resumed);
    CHECK(other.exit_code == 1);
    CHECK(contains(other.err, "was written by a run with settings"));
    const Run again = run_proact(dir, harden + " --resume --out " + resumed + " --log " + dir.file("resumed.json"));
    REQUIRE_MESSAGE(again.exit_code == 0, again.err);
    CHECK(contains(again.out, "(resumed)"));
    CHECK(read_bytes(resumed) == read_bytes(dir.file("whole.safetensors")));
    CHECK(read_bytes(dir.file("resumed.json")) == read_bytes(dir.file("whole.json")));
    CHECK_FALSE(std::filesystem::exists(resumed + ".partial"));
    const Run not_layered = run_proact(dir, base + " --method fitact --resume --out " + dir.file("f.safetensors"));
    CHECK(not_layered.exit_code != 0);
    CHECK(contains(not_layered.err, "does not go layer by layer"));
}

TEST_CASE("inject --json sees each point end and still gives the numbers of one campaign") {
    TempDir dir("proact-cli-points");
    write_idx_split(dir, "train", 200);
    write_idx_split(dir, "t10k", 60);
    const std::string data = " --dataset fashion-mnist --data-dir " + dir.path.string();
    const std::string model = dir.file("model.safetensors");
    REQUIRE(run_proact(dir, "train --epochs 1 --batch-size 32 --no-test --out " + model + data + kQuiet).exit_code == 0);
    const std::string campaign = "inject --model-file " + model + data + " --format q7.8 --seed 5" + kQuiet;
    // The ci_margin rule, shards, exact k and the fault log go through apps/campaign_points.cpp's
    // copy of the per-point loop with --json, through faults::run_campaign without.
    for (const std::string settings : {" --ber 1e-3,1e-2 --trials 40 --ci-margin 20", " --ber 1e-4,1e-3,1e-2 --trials 5 --shard 1/3",
                                       " --fault-model exact --k 1,3 --trials 4", " --ber 1e-3,3e-3 --trials 3"}) {
        CAPTURE(settings);
        const Run single = run_proact(dir, campaign + settings + " --csv " + dir.file("single.csv") + " --log-faults " +
                                               dir.file("single.faults.csv"));
        REQUIRE_MESSAGE(single.exit_code == 0, single.err);
        const Run points = run_proact(dir, campaign + settings + " --json " + dir.file("points.json") + " --csv " +
                                               dir.file("points.csv") + " --log-faults " + dir.file("points.faults.csv"));
        REQUIRE_MESSAGE(points.exit_code == 0, points.err);
        CHECK(read_bytes(dir.file("single.csv")) == read_bytes(dir.file("points.csv")));
        CHECK(read_bytes(dir.file("single.faults.csv")) == read_bytes(dir.file("points.faults.csv")));
    }
}

TEST_CASE("vuln writes the map, the heatmap and the summary; the same seed gives the same bytes") {
    TempDir dir("proact-cli");
    write_idx_split(dir, "train", 200);
    write_idx_split(dir, "t10k", 100);
    const std::string data = " --dataset fashion-mnist --data-dir " + dir.path.string();
    const std::string model = dir.file("model.safetensors");
    const Run train = run_proact(dir, "train --model lenet5 --epochs 1 --batch-size 32 --seed 6 --no-test --out " + model + data + kQuiet);
    REQUIRE_MESSAGE(train.exit_code == 0, train.err);
    const std::string vuln = "vuln --model-file " + model + data + " --images 60";

    const Run exhaustive = run_proact(dir, vuln + " --format float32 --targets features.0.bias --bits 30,31 --exhaustive"
                                                  " --out-dir " + dir.file("exhaustive") + kQuiet);
    REQUIRE_MESSAGE(exhaustive.exit_code == 0, exhaustive.err);
    CHECK(contains(exhaustive.out, "12 injections in"));  // 6 biases x 2 bits
    CHECK(contains(exhaustive.out, "injections per second"));
    CHECK(contains(exhaustive.out, "## Layers to protect first"));
    CHECK(count_lines(read_text(dir.file("exhaustive/map.csv"))) == 1 + 2);
    CHECK(contains(read_text(dir.file("exhaustive/map.json")), "\"mode\": \"exhaustive\""));
    CHECK(contains(read_text(dir.file("exhaustive/map.svg")), "features.0.bias bit 31: SDC "));
    CHECK(read_text(dir.file("exhaustive/summary.md")) + "\n" == exhaustive.out.substr(exhaustive.out.find("# Vulnerability"),
                                                                                    read_text(dir.file("exhaustive/summary.md")).size() + 1));

    // Statistical, twice with one seed (the second on two threads): the same bytes.
    const std::string sampled = vuln + " --targets classifier.4.* --bits 28-31 --margin 0.2 --seed 3 --quiet";
    const Run first = run_proact(dir, sampled + " --threads 1 --out-dir " + dir.file("a"));
    REQUIRE_MESSAGE(first.exit_code == 0, first.err);
    const Run second = run_proact(dir, sampled + " --threads 2 --out-dir " + dir.file("b"));
    REQUIRE_MESSAGE(second.exit_code == 0, second.err);
    for (const char* name : {"map.csv", "map.json", "map.svg", "summary.md"}) {
        CAPTURE(name);
        CHECK(read_bytes(dir.file(std::string("a/") + name)) == read_bytes(dir.file(std::string("b/") + name)));
    }

    // Bad flags: code 2 for the command line, 1 for a setting the library refuses, one line each.
    const std::string out = " --out-dir " + dir.file("bad");
    for (const std::string& flags : {std::string(" --exhaustive --sequential"), std::string(" --margin 0"),
                                     std::string(" --confidence 1.5"), std::string(" --k 0"), std::string("")}) {
        CAPTURE(flags);
        const Run run = run_proact(dir, (flags.empty() ? "vuln --model-file " + model : vuln + flags + out) + kQuiet);
        CHECK(run.exit_code == 2);
        CHECK(count_lines(run.err) == 1);
    }
    const Run bits = run_proact(dir, vuln + " --format q7.8 --bits 0-20" + out + kQuiet);
    CHECK(bits.exit_code == 1);
    CHECK(contains(bits.err, "'0-20'"));
    const Run grouped = run_proact(dir, vuln + " --exhaustive --k 2" + out + kQuiet);
    CHECK(grouped.exit_code == 1);
    CHECK(contains(grouped.err, "k = 2"));
    const Run typo = run_proact(dir, vuln + " --targets features.9.*" + out + kQuiet);
    CHECK(typo.exit_code == 1);
    CHECK(contains(typo.err, "'features.9.*' matches no parameter"));
    CHECK(!std::filesystem::exists(dir.file("bad/map.json")));
}
