// The `proact` command line.
//
//   proact train --model lenet5 --dataset fashion-mnist --epochs 10 --seed 0 --out model.safetensors
//   proact eval  --model-file model.safetensors --dataset fashion-mnist
//   proact harden --method proact --model-file model.safetensors --dataset fashion-mnist --out hardened.safetensors
//   proact reproduce --model lenet5 --dataset fashion-mnist --format q15.16 --out-dir out
//   proact demo                                  # what ./run demo runs
//
// Every command takes --seed (one seed decides every random choice), --threads and --data-dir.
// Bad input ends with a message naming what was wrong and exit code 1 (2 for command-line errors).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "apps/commands.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

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
    } catch (const proact::core::Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
