// Optimizers and schedules by name: every listed name makes one, an unknown name is refused
// naming the known ones, and the settings reach what is made.
#include <doctest/doctest.h>

#include "core/error.hpp"
#include "layers/linear.hpp"
#include "optim/factory.hpp"
#include "support/test_support.hpp"

using namespace proact;

TEST_CASE("every listed optimizer is made, with the lr asked for") {
    core::Rng rng(0, "init");
    layers::Linear linear(3, 2, rng);
    REQUIRE(optim::optimizer_names() == std::vector<std::string>{"sgd", "adam", "adamw"});
    for (const std::string& name : optim::optimizer_names()) {
        CAPTURE(name);
        auto optimizer = optim::make_optimizer(name, linear.named_parameters(), {.lr = 0.25f});
        REQUIRE(optimizer != nullptr);
        CHECK(optimizer->param_groups().front().lr == 0.25f);
    }
    const std::string message = test::message_of<core::ValueError>(
        [&] { optim::make_optimizer("lbfgs", linear.named_parameters(), {}); });
    CHECK(test::contains(message, "'lbfgs'"));
    CHECK(test::contains(message, "sgd, adam, adamw"));
}

TEST_CASE("every listed schedule is made; warm-up wraps it") {
    REQUIRE(optim::schedule_names() == std::vector<std::string>{"constant", "step", "cosine"});
    for (const std::string& name : optim::schedule_names()) {
        CAPTURE(name);
        CHECK(optim::make_schedule(name, {.lr = 0.1f, .epochs = 10})->lr_at(0) == doctest::Approx(0.1f));
    }
    CHECK(optim::make_schedule("step", {.lr = 0.1f, .step_size = 2, .gamma = 0.5f})->lr_at(2) == doctest::Approx(0.05f));
    CHECK(optim::make_schedule("cosine", {.lr = 0.1f, .epochs = 4})->lr_at(2) == doctest::Approx(0.05f));
    CHECK(optim::make_schedule("constant", {.lr = 0.1f, .warmup_epochs = 2})->lr_at(0) < 0.1f);
    const std::string message =
        test::message_of<core::ValueError>([] { optim::make_schedule("triangle", {}); });
    CHECK(test::contains(message, "constant, step, cosine"));
}
