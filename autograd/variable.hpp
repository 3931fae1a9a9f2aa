// Variable: a tensor that remembers how it was computed, for reverse-mode differentiation.
//
//   Variable w(Tensor::normal({3, 2}, 0, 1, rng), /*requires_grad=*/true);
//   Variable y = sum(relu(matmul(x, w)));     // each op records a Node with a backward closure
//   y.backward();                             // gradients flow back; w.grad() now holds dy/dw
//
// The graph: every op output holds a Node listing its input Variables and a function that maps
// the gradient of the output to gradients of the inputs. backward() visits the nodes in reverse
// topological order; gradients accumulate (+=) into each Variable, so a Variable used twice gets
// both contributions. After backward the graph is freed (nodes and the tensors their closures
// captured) unless retain_graph is set. Under a NoGradGuard no nodes are built at all.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace proact::autograd {

using core::Shape;
using core::Tensor;

class Variable;

// Maps the gradient of an op's output to one gradient per input (an undefined Tensor for an
// input that needs none). Each returned gradient has its input's shape.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
    const char* op;                 // "matmul", "conv2d", ... for error messages
    std::vector<Variable> inputs;   // every input of the op, in the order of BackwardFn's result
    BackwardFn backward;
};

struct VariableData {
    Tensor value;
    Tensor grad;                    // undefined until a gradient arrives
    bool requires_grad = false;
    bool retain_grad = false;       // keep the gradient of a non-leaf after backward
    std::shared_ptr<Node> node;     // the op that produced this Variable; null for leaves
};

class Variable {
public:
    Variable() = default;  // undefined
    explicit Variable(Tensor value, bool requires_grad = false);

    bool defined() const { return data_ != nullptr; }
    const Tensor& value() const { return data_->value; }
    Tensor& value() { return data_->value; }
    const Tensor& grad() const { return data_->grad; }
    Tensor& grad() { return data_->grad; }
    bool has_grad() const { return data_->grad.defined(); }
    bool requires_grad() const { return data_ && data_->requires_grad; }
    void set_requires_grad(bool requires_grad);
    void retain_grad() { data_->retain_grad = true; }
    void zero_grad() { data_->grad = Tensor(); }
    bool is_leaf() const { return data_->node == nullptr; }
    const std::shared_ptr<Node>& node() const { return data_->node; }

    const Shape& shape() const { return data_->value.shape(); }
    int64_t dim() const { return data_->value.dim(); }
    int64_t size(int64_t axis) const { return data_->value.size(axis); }
    int64_t numel() const { return data_->value.numel(); }
    float item() const { return data_->value.item(); }

    // Backward from a one-element output (gradient 1).
    void backward(bool retain_graph = false);
    // Backward with an explicit gradient of this Variable's shape.
    void backward(const Tensor& grad_output, bool retain_graph = false);

    // Same value, no history, requires_grad false. Shares the tensor storage.
    Variable detach() const;

    // grad += g (g has this Variable's shape). Out of place: a gradient tensor handed to two
    // inputs is never modified through one of them.
    void accumulate_grad(const Tensor& g);

    bool same(const Variable& other) const { return data_ == other.data_; }
    VariableData* id() const { return data_.get(); }

private:
    friend Variable make_result(Tensor, const char*, std::vector<Variable>, BackwardFn);
    friend std::vector<Tensor> gradients(const Variable&, const std::vector<Variable>&);
    // The one backward pass: every gradient a leaf (or a retain_grad non-leaf) receives goes to
    // `receive`, in the order backward() adds them into .grad.
    static void run_backward(const Variable& output, const Tensor& grad_output, bool retain_graph,
                             const std::function<void(Variable&, const Tensor&)>& receive);
    std::shared_ptr<VariableData> data_;
};

// The gradients of a one-element `output` with respect to `inputs` (leaves that require a
// gradient), returned instead of added into .grad: no Variable's .grad changes (not the inputs',
// not another leaf's, not a retain_grad one's), and the graph is freed as by backward(). An input
// the output does not depend on gets an undefined Tensor. Each result has the bits backward()
// would leave in a zeroed .grad. What makes several graphs over shared leaves safe to run on
// several threads at once: backward() would add into the shared leaves' .grad concurrently.
// ShapeError for an output of more than one element, ValueError for an input that is not a leaf
// requiring a gradient.
std::vector<Tensor> gradients(const Variable& output, const std::vector<Variable>& inputs);

// Whether ops record graph nodes (thread-local; on by default).
bool grad_enabled();

// Inference scope: no graph, no saved tensors.
class NoGradGuard {
public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

// Wraps an op's output value. Builds a Node only if grad mode is on and some input requires a
// gradient; otherwise the closure is dropped and the result is a plain Variable.
Variable make_result(Tensor value, const char* op, std::vector<Variable> inputs, BackwardFn backward);

// True if grad mode is on and any of the inputs requires a gradient: ops use it to skip saving
// tensors for backward when there will be no backward.
bool needs_graph(std::initializer_list<const Variable*> inputs);

}  // namespace proact::autograd
