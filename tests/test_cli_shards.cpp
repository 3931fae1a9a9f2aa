// A comparison in shards: `proact reproduce --shard i/n` in folders joined by `proact merge DIR...
// --out-dir` gives the bytes of one unsharded run (results.* and every campaign), at 1 and 2 threads;
// shards of other settings, missing or repeated are refused by name. The same through the recipes
// in examples/: GNU parallel on this machine, and a Slurm job array with a dependent merge job
// (skipped, saying why, when parallel is not installed or no Slurm controller answers).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "support/cli_support.hpp"

using namespace proact::test;

namespace {

bool shell_succeeds(const std::string& command) { return std::system(("(" + command + ") >/dev/null 2>&1").c_str()) == 0; }

// Whether `command` succeeds; says on stderr which test is skipped, and why, when not.
bool available(const std::string& command, const char* skipped) {
    if (shell_succeeds(command)) return true;
    std::fprintf(stderr, "test_cli_shards: SKIPPED %s\n", skipped);
    return false;
}

bool have_parallel() {
    return available("command -v parallel", "the GNU parallel recipe: parallel is not installed (apt-get install parallel)");
}

// A controller that answers and a partition that is up.
bool have_slurm() {
    return available("command -v sbatch && sinfo -h -o %a | grep -q up",
                     "the Slurm recipe: no Slurm controller answers with a partition up (sbatch and sinfo; "
                     "tests/support/start_local_slurm.sh starts one on this machine)");
}

const std::vector<std::string> kMethods = {"unprotected", "ranger", "proact"};

// A tiny data set, a model trained on it once, and the reproduce flags every run here shares.
struct Setup {
    TempDir dir{"proact-cli-shards"};
    std::string flags;

    Setup() {
        write_idx_split(dir, "train", 200);
        write_idx_split(dir, "t10k", 100);
        const std::string data = " --dataset fashion-mnist --data-dir " + dir.path.string();
        const std::string model = dir.file("model.safetensors");
        const Run train = run_proact(dir, "train --epochs 1 --batch-size 32 --no-test --out " + model + data + kQuiet);
        REQUIRE_MESSAGE(train.exit_code == 0, train.err);
        flags = " --quick --methods unprotected,ranger,proact --ber 1e-3,1e-2 --trials 5 --no-times --model-file " +
                model + data;
    }

    // The files a merged folder must share with one run's, byte for byte.
    void check_same_results(const std::string& one, const std::string& merged) const {
        for (const char* name : {"results.md", "results.csv", "results.json", "results.svg"}) {
            CHECK_MESSAGE(!read_text(one + "/" + name).empty(), name);
            CHECK_MESSAGE(read_text(one + "/" + name) == read_text(merged + "/" + name), name);
        }
        for (const std::string& method : kMethods) {
            const std::string campaign = "/" + method + ".campaign.json";
            CHECK_MESSAGE(read_text(one + campaign) == read_text(merged + campaign), campaign);
        }
    }
};

}  // namespace

TEST_CASE("reproduce --shard i/n and merge of the folders give the bytes of one run; other shards are refused") {
    Setup setup;
    const TempDir& dir = setup.dir;
    const std::string one = dir.file("one");
    const Run whole = run_proact(dir, "reproduce --threads 2 --quiet --out-dir " + one + setup.flags);
    REQUIRE_MESSAGE(whole.exit_code == 0, whole.err);
    for (int i = 0; i < 3; ++i) {
        const std::string out = dir.file("shard-" + std::to_string(i));
        const Run shard = run_proact(dir, "reproduce --shard " + std::to_string(i) + "/3 --out-dir " + out +
                                              setup.flags + kQuiet);
        REQUIRE_MESSAGE(shard.exit_code == 0, shard.err);
        CHECK(contains(shard.out, "shard " + std::to_string(i) + "/3: wrote"));
        CHECK(std::filesystem::exists(out + "/shard.json"));
        CHECK_FALSE(std::filesystem::exists(out + "/results.md"));  // a shard's results would be a third of them
    }
    const std::string shards = " " + dir.file("shard-0") + " " + dir.file("shard-1") + " " + dir.file("shard-2");
    const std::string merged = dir.file("merged");
    const Run merge = run_proact(dir, "merge" + shards + " --out-dir " + merged + " --quiet");
    REQUIRE_MESSAGE(merge.exit_code == 0, merge.err);
    CHECK(contains(merge.out, "merged 3 shards"));
    setup.check_same_results(one, merged);

    // A shard of other settings is refused, naming the setting; nothing is written.
    const std::string other = dir.file("other-1");
    std::string flags = setup.flags;
    flags.replace(flags.find("--trials 5"), 10, "--trials 6");
    REQUIRE(run_proact(dir, "reproduce --shard 1/3 --out-dir " + other + flags + kQuiet).exit_code == 0);
    const Run refused = run_proact(dir, "merge " + dir.file("shard-0") + " " + other + " " + dir.file("shard-2") +
                                            " --out-dir " + dir.file("bad") + " --quiet");
    CHECK(refused.exit_code == 1);
    CHECK_MESSAGE(contains(refused.err, "shard '" + other + "' (1/3) differs from '" + dir.file("shard-0") +
                                            "' (0/3) in its trials (6 against 5)"),
                  refused.err);
    CHECK_FALSE(std::filesystem::exists(dir.file("bad/results.md")));

    // A missing or repeated shard is refused.
    const std::string bad = " --out-dir " + dir.file("bad") + " --quiet";
    const Run missing = run_proact(dir, "merge " + dir.file("shard-0") + " " + dir.file("shard-1") + bad);
    CHECK(missing.exit_code == 1);
    CHECK_MESSAGE(contains(missing.err, "shard 2/3 is missing"), missing.err);
    const Run twice =
        run_proact(dir, "merge " + dir.file("shard-0") + " " + dir.file("shard-1") + " " + dir.file("shard-1") + bad);
    CHECK(twice.exit_code == 1);
    CHECK_MESSAGE(contains(twice.err, "shard 1/3 is given twice"), twice.err);

    // Folders need --out-dir; a folder without a manifest is named.
    const Run no_out = run_proact(dir, "merge" + shards + " --quiet");
    CHECK(no_out.exit_code == 1);
    CHECK(contains(no_out.err, "give --out-dir"));
    const Run not_shard = run_proact(dir, "merge " + one + bad);
    CHECK(not_shard.exit_code == 1);
    CHECK_MESSAGE(contains(not_shard.err, "holds no shard.json"), not_shard.err);
}

TEST_CASE("examples/shard_parallel.sh: shards side by side with GNU parallel, merged, give the bytes of one run" *
          doctest::skip(!have_parallel())) {
    Setup setup;
    const TempDir& dir = setup.dir;
    const std::string one = dir.file("one");
    REQUIRE(run_proact(dir, "reproduce --out-dir " + one + setup.flags + kQuiet).exit_code == 0);
    const std::string script = std::string(PROACT_SOURCE_DIR) + "/examples/shard_parallel.sh";
    // Every shard hardening for itself (3 shards), and HARDEN_ONCE: shard 0's hardened models in the others (2).
    for (const std::string& run : {std::string("3 ") + dir.file("parallel"), "2 " + dir.file("once")}) {
        const std::string environment = run[0] == '2' ? "HARDEN_ONCE=1 " : "";
        const int status = std::system((environment + "PROACT='" + std::string(PROACT_BINARY) + "' bash '" + script +
                                        "' " + run + setup.flags + " --quiet >" + dir.file("parallel.log") + " 2>&1")
                                           .c_str());
        REQUIRE_MESSAGE(status == 0, read_text(dir.file("parallel.log")));
        setup.check_same_results(one, run.substr(2));
    }
    // Kept, not hardened again: a new one would record its own hardening seconds in its metadata.
    CHECK(read_text(dir.file("once/shard-1/proact.safetensors")) == read_text(dir.file("once/shard-0/proact.safetensors")));
}

TEST_CASE("examples/slurm_campaign.sbatch: a job array of shards and a dependent merge give the bytes of one run" *
          doctest::skip(!have_slurm())) {
    Setup setup;
    const TempDir& dir = setup.dir;
    const std::string one = dir.file("one");
    REQUIRE(run_proact(dir, "reproduce --out-dir " + one + setup.flags + kQuiet).exit_code == 0);
    const std::string out = dir.file("slurm");
    const std::string script = std::string(PROACT_SOURCE_DIR) + "/examples/slurm_campaign.sbatch";
    // PROACT_SLURM_WAIT: the script returns when the merge job has ended, with its status.
    const int status = std::system(("cd '" + dir.path.string() + "' && PROACT_SLURM_WAIT=1 PROACT='" +
                                    std::string(PROACT_BINARY) + "' bash '" + script + "' 2 " + out + setup.flags +
                                    " --quiet >" + dir.file("slurm.log") + " 2>&1")
                                       .c_str());
    REQUIRE_MESSAGE(status == 0, read_text(dir.file("slurm.log")));
    CHECK(contains(read_text(dir.file("slurm.log")), "COMPLETED"));
    setup.check_same_results(one, out);

    // A shard that fails cancels the merge, and the script says so.
    const int failed = std::system(("cd '" + dir.path.string() + "' && PROACT_SLURM_WAIT=1 PROACT='" +
                                    std::string(PROACT_BINARY) + "' bash '" + script + "' 2 " + dir.file("failed") +
                                    " --trials 0 >" + dir.file("failed.log") + " 2>&1")
                                       .c_str());
    CHECK(failed != 0);
    CHECK_MESSAGE(contains(read_text(dir.file("failed.log")), "the merge job did not complete (CANCELLED)"),
                  read_text(dir.file("failed.log")));
}
