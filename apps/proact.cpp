// The `proact` command line.
//
//   proact train --model lenet5 --dataset fashion-mnist --epochs 10 --seed 0 --out model.safetensors
//   proact eval  --model-file model.safetensors --dataset fashion-mnist
//   proact harden --method proact --model-file model.safetensors --dataset fashion-mnist --out hardened.safetensors
//   proact reproduce --model lenet5 --dataset fashion-mnist --format q15.16 --out-dir out
//   proact vuln --model-file model.safetensors --out-dir vuln   # layer x bit vulnerability map
//   proact demo                                  # what ./run demo runs
//
// Every command takes --seed (one seed decides every random choice), --threads and --data-dir.
// Bad input ends with a message naming what was wrong and exit code 1 (2 for command-line errors).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>
#include <new>
#include <string>

#include "apps/commands.hpp"
#include "apps/common.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

namespace {

// The subcommand parsed (for messages), or "proact" before one is known.
std::string command_name(const CLI::App& app) {
    for (const CLI::App* sub : app.get_subcommands()) return sub->get_name();
    return "proact";
}

// "frobnicate" is a typo of a command, not an argument CLI11 did not expect: name it and list them.
bool is_unknown_command(CLI::App& app, int argc, char** argv, std::string& names) {
    if (argc < 2 || argv[1][0] == '-') return false;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
        names += (names.empty() ? "" : ", ") + sub->get_name();
        known = known || sub->get_name() == argv[1];
    }
    return !known;
}

}  // namespace

int main(int argc, char** argv) {
    proact::core::prefer_passive_openmp_wait(argv);
    CLI::App app{"proact: resilient neural networks against bit flips (ProAct), from scratch in C++"};
    app.require_subcommand(1);
    proact::apps::register_train(app);
    proact::apps::register_eval(app);
    proact::apps::register_demo(app);
    proact::apps::register_inject(app);
    proact::apps::register_merge(app);
    proact::apps::register_harden(app);
    proact::apps::register_reproduce(app);
    proact::apps::register_tune(app);
    proact::apps::register_vuln(app);
    std::string commands;
    if (is_unknown_command(app, argc, argv, commands)) {
        std::cerr << "error: unknown command '" << argv[1] << "' (commands: " << commands << "; see --help)\n";
        return 2;
    }
    // The one error path of every command: one line on stderr, exit code 2 for the command line
    // and 1 for anything else. Nothing is caught on the way here unless it is handled there.
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help prints and succeeds; any other command-line error is one line on stderr and exit 2.
        if (e.get_exit_code() == 0) return app.exit(e);
        std::string message = e.what();
        for (char& c : message)
            if (c == '\n') c = ' ';
        std::cerr << "error: " << message << " (see --help)\n";
        return 2;
    } catch (const proact::core::MemoryError& e) {
        const std::string requests = proact::apps::memory_requests();
        std::cerr << "error: " << command_name(app) << ": out of memory (" << e.what() << ")"
                  << (requests.empty() ? "" : "; requests sized by flags: " + requests) << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        // A container's allocation failed: its size is unknown here, the flags that sized the
        // command's big requests are not.
        const std::string requests = proact::apps::memory_requests();
        std::cerr << "error: " << command_name(app) << ": out of memory (an allocation failed)"
                  << (requests.empty() ? "" : "; requests sized by flags: " + requests) << "\n";
        return 1;
    } catch (const proact::core::Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        // Not one of our typed errors (a library's): say which command and what kind it was.
        std::cerr << "error: " << command_name(app) << ": " << e.what() << "\n";
        return 1;
    }
    return 0;
}
