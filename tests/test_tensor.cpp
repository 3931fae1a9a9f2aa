// Tensor storage, views, factories and checked access.
#include <doctest/doctest.h>

#include <cstdint>

#include "core/tensor.hpp"

using namespace proact::core;

TEST_CASE("factories fill and shape") {
    Tensor z = Tensor::zeros({2, 3});
    CHECK(z.shape() == Shape{2, 3});
    CHECK(z.numel() == 6);
    CHECK(z.strides() == Shape{3, 1});
    for (float v : z.span()) CHECK(v == 0.0f);
    Tensor f = Tensor::full({4}, 2.5f);
    CHECK(f.at({3}) == 2.5f);
    Tensor a = Tensor::arange(0, 5);
    CHECK(a.to_vector() == std::vector<float>{0, 1, 2, 3, 4});
    CHECK(Tensor::arange(1, 2, 0.25f).numel() == 4);
    CHECK(Tensor::scalar(7).dim() == 0);
    CHECK(Tensor::scalar(7).item() == 7.0f);
}

TEST_CASE("storage is 64-byte aligned") {
    for (int64_t n : {1, 3, 17, 1000}) {
        Tensor t = Tensor::empty({n});
        CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    }
}

TEST_CASE("seeded factories are reproducible and differ across seeds") {
    Rng r1(42, "init"), r2(42, "init"), r3(43, "init");
    Tensor a = Tensor::normal({100}, 0, 1, r1);
    Tensor b = Tensor::normal({100}, 0, 1, r2);
    Tensor c = Tensor::normal({100}, 0, 1, r3);
    CHECK(equal(a, b));
    CHECK_FALSE(equal(a, c));
    Rng r4(1, "u");
    Tensor u = Tensor::uniform({1000}, -2, 3, r4);
    for (float v : u.span()) {
        CHECK(v >= -2.0f);
        CHECK(v < 3.0f);
    }
}

TEST_CASE("views share storage") {
    Tensor t = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5});
    Tensor r = t.reshape({3, 2});
    CHECK(r.shares_storage(t));
    r.at({2, 1}) = 50;
    CHECK(t.at({1, 2}) == 50);

    Tensor tr = t.transpose(0, 1);
    CHECK(tr.shape() == Shape{3, 2});
    CHECK_FALSE(tr.is_contiguous());
    CHECK(tr.at({2, 0}) == 2);
    CHECK(tr.contiguous().to_vector() == std::vector<float>{0, 3, 1, 4, 2, 50});
    // reshape of a non-contiguous tensor copies
    Tensor flat = tr.reshape({6});
    CHECK_FALSE(flat.shares_storage(t));

    Tensor s = t.slice(1, 2);
    CHECK(s.shape() == Shape{1, 3});
    CHECK(s.shares_storage(t));
    CHECK(s.at({0, 0}) == 3);
    Tensor row = t.select(0);
    CHECK(row.shape() == Shape{3});
    CHECK(row.at({2}) == 2);

    Tensor p = Tensor::arange(0, 24).reshape({2, 3, 4}).permute({2, 0, 1});
    CHECK(p.shape() == Shape{4, 2, 3});
    CHECK(p.at({3, 1, 2}) == 1 * 12 + 2 * 4 + 3);
    CHECK(t.reshape({-1}).shape() == Shape{6});
    CHECK(t.unsqueeze(0).shape() == Shape{1, 2, 3});
    CHECK(t.unsqueeze(0).squeeze(0).shape() == Shape{2, 3});
}

TEST_CASE("copy_ between strided tensors") {
    Tensor src = Tensor::arange(0, 6).reshape({2, 3});
    Tensor dst = Tensor::zeros({3, 2}).transpose(0, 1);
    dst.copy_(src);
    CHECK(dst.to_vector() == src.to_vector());
    CHECK_THROWS_AS(dst.copy_(Tensor::zeros({3, 2})), ShapeError);
}

TEST_CASE("errors name the problem") {
    Tensor t = Tensor::zeros({2, 3});
    CHECK_THROWS_AS(t.at({2, 0}), IndexError);
    CHECK_THROWS_AS(t.at({0}), IndexError);
    CHECK_THROWS_AS(t.reshape({4}), ShapeError);
    CHECK_THROWS_AS(t.reshape({-1, -1}), ShapeError);
    CHECK_THROWS_AS(t.slice(1, 3), IndexError);
    CHECK_THROWS_AS(t.transpose(0, 2), IndexError);
    CHECK_THROWS_AS(t.item(), ShapeError);
    CHECK_THROWS_AS(t.permute({0, 0}), ShapeError);
    CHECK_THROWS_AS(Tensor::from_vector({2}, {1, 2, 3}), ShapeError);
    try {
        t.reshape({4});
        FAIL("no throw");
    } catch (const ShapeError& e) {
        CHECK(std::string(e.what()).find("[2, 3]") != std::string::npos);
    }
}

TEST_CASE("empty tensors") {
    Tensor e = Tensor::zeros({0, 4});
    CHECK(e.numel() == 0);
    CHECK(e.reshape({4, 0}).numel() == 0);
    CHECK(e.clone().shape() == Shape{0, 4});
}
