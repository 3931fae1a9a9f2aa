// core/format.hpp: the one number formatter of every table, CSV, report and metadata value.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "core/format.hpp"

using namespace proact::core;

TEST_CASE("fixed: printf's %.nf, n/a for a value that is not finite") {
    CHECK(fixed(97.03125) == "97.03");
    CHECK(fixed(0.5, 4) == "0.5000");
    CHECK(fixed(2.25, 1) == "2.2");  // round half to even, as printf
    CHECK(fixed(-0.004) == "-0.00");
    CHECK(fixed(1234.5, 0) == "1234");
    CHECK(fixed(std::nan("")) == "n/a");
    CHECK(fixed(std::numeric_limits<double>::infinity(), 4) == "n/a");
}

TEST_CASE("general: printf's %g") {
    CHECK(general(1e-05) == "1e-05");
    CHECK(general(0.0001) == "0.0001");
    CHECK(general(0.4) == "0.4");
    CHECK(general(2.5e-3) == "0.0025");
    CHECK(general(1234567.0) == "1.23457e+06");
    CHECK(general(0.0) == "0");
}

TEST_CASE("rate_text: every BER in one notation") {
    CHECK(rate_text(1e-4) == "1e-04");
    CHECK(rate_text(2.5e-05) == "2.5e-05");
    CHECK(rate_text(1.125e-3) == "1.125e-03");
    CHECK(rate_text(3e-7) == "3e-07");
    CHECK(rate_text(1.0) == "1e+00");
}

TEST_CASE("shortest: the shortest text that reads back as the same double") {
    CHECK(shortest(0.1) == "0.1");
    CHECK(shortest(41.83) == "41.83");
    CHECK(shortest(1e-7) == "1e-07");
    CHECK(shortest(2.9429143689999999) == "2.942914369");
    for (double value : {0.1 + 0.2, 1.0 / 3.0, 6.02214076e23, 5e-324, -2.5})
        CHECK(std::strtod(shortest(value).c_str(), nullptr) == value);
}

TEST_CASE("compact: shortest digits the shorter way, exponent unpadded (as --ber takes it)") {
    CHECK(compact(1e-7) == "1e-7");
    CHECK(compact(3e-6) == "3e-6");
    CHECK(compact(1e-4) == "1e-4");       // shorter than 0.0001
    CHECK(compact(0.0025) == "0.0025");   // not longer than 2.5e-3
    CHECK(compact(0.5) == "0.5");
    CHECK(compact(1.5e-5) == "1.5e-5");
    CHECK(compact(0.0) == "0");
    CHECK(compact(1e6) == "1e6");
    CHECK(compact(120.0) == "1.2e2");     // %g would not write 120 plain at two digits
    CHECK(compact(-2.5e-8) == "-2.5e-8");
}
