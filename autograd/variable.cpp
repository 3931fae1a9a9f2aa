#include "autograd/variable.hpp"

#include <unordered_map>
#include <unordered_set>

#include "core/elementwise.hpp"

namespace proact::autograd {

using core::fail;

namespace {
thread_local bool grad_mode_enabled = true;
}

bool grad_enabled() { return grad_mode_enabled; }

NoGradGuard::NoGradGuard() : previous_(grad_mode_enabled) { grad_mode_enabled = false; }
NoGradGuard::~NoGradGuard() { grad_mode_enabled = previous_; }

Variable::Variable(Tensor value, bool requires_grad) : data_(std::make_shared<VariableData>()) {
    data_->value = std::move(value);
    data_->requires_grad = requires_grad;
}

void Variable::set_requires_grad(bool requires_grad) {
    if (!is_leaf() && !requires_grad)
        fail<core::ValueError>("set_requires_grad: cannot turn off gradients of a non-leaf variable (op ",
                               data_->node->op, "); use detach()");
    data_->requires_grad = requires_grad;
}

Variable Variable::detach() const { return Variable(data_->value, false); }

void Variable::accumulate_grad(const Tensor& g) {
    if (g.shape() != shape())
        fail<core::ShapeError>("backward: gradient of shape ", core::shape_str(g.shape()), " for a variable of shape ",
                               core::shape_str(shape()),
                               data_->node ? std::string(" (output of ") + data_->node->op + ")" : std::string());
    if (!data_->grad.defined()) {
        data_->grad = g;
    } else {
        data_->grad = core::add(data_->grad, g);
    }
}

bool needs_graph(std::initializer_list<const Variable*> inputs) {
    if (!grad_mode_enabled) return false;
    for (const Variable* v : inputs)
        if (v->requires_grad()) return true;
    return false;
}

Variable make_result(Tensor value, const char* op, std::vector<Variable> inputs, BackwardFn backward) {
    Variable out(std::move(value), false);
    if (!grad_mode_enabled) return out;
    bool any = false;
    for (const Variable& v : inputs) any = any || v.requires_grad();
    if (!any) return out;
    out.data_->requires_grad = true;
    out.data_->node = std::make_shared<Node>(Node{op, std::move(inputs), std::move(backward)});
    return out;
}

void Variable::backward(bool retain_graph) {
    if (numel() != 1)
        fail<core::ShapeError>("backward: output has shape ", core::shape_str(shape()),
                               "; pass a gradient or reduce it to one element");
    backward(Tensor::ones(shape()), retain_graph);
}

void Variable::backward(const Tensor& grad_output, bool retain_graph) {
    run_backward(*this, grad_output, retain_graph, [](Variable& target, const Tensor& g) { target.accumulate_grad(g); });
}

void Variable::run_backward(const Variable& output, const Tensor& grad_output, bool retain_graph,
                            const std::function<void(Variable&, const Tensor&)>& receive) {
    if (!output.requires_grad())
        fail<core::ValueError>("backward: the variable does not require a gradient (no input requires one, or it "
                               "was computed under NoGradGuard)");
    // Topological order by iterative depth-first search over the nodes.
    std::vector<Variable> order;
    std::unordered_set<VariableData*> visited;
    std::vector<std::pair<Variable, size_t>> stack;
    stack.emplace_back(output, 0);
    visited.insert(output.id());
    while (!stack.empty()) {
        auto& [var, next_input] = stack.back();
        const auto& node = var.node();
        if (node && next_input < node->inputs.size()) {
            const Variable& input = node->inputs[next_input++];
            if (input.requires_grad() && !input.is_leaf() && visited.insert(input.id()).second)
                stack.emplace_back(input, 0);
            continue;
        }
        order.push_back(var);
        stack.pop_back();
    }

    // Pending gradients of the variables in the graph, keyed by identity. Leaves (and non-leaves
    // that asked for retain_grad) go to `receive`; the rest are dropped once used.
    if (grad_output.shape() != output.shape())
        fail<core::ShapeError>("backward: gradient of shape ", core::shape_str(grad_output.shape()),
                               " for an output of shape ", core::shape_str(output.shape()));
    std::unordered_map<VariableData*, Tensor> pending;
    auto deliver = [&pending, &receive](Variable& target, const Tensor& g) {
        if (target.is_leaf() || target.data_->retain_grad) receive(target, g);
        if (target.is_leaf()) return;
        if (g.shape() != target.shape())
            fail<core::ShapeError>("backward: op ", target.node()->op, " received a gradient of shape ",
                                   core::shape_str(g.shape()), " for an output of shape ",
                                   core::shape_str(target.shape()));
        auto [it, inserted] = pending.try_emplace(target.id(), g);
        if (inserted) return;
        // pending + g: in place where nothing else holds the pending tensor's storage (a tensor
        // an op made for it alone), which saves a fresh tensor per residual; the same sums
        Tensor& sum = it->second;
        if (sum.storage().use_count() == 1 && sum.is_contiguous()) core::add_(sum, g);
        else sum = core::add(sum, g);
    };
    Variable root = output;
    deliver(root, grad_output);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        Variable& var = *it;
        const std::shared_ptr<Node> node = var.node();
        auto found = pending.find(var.id());
        if (!node || found == pending.end()) continue;
        const Tensor g = std::move(found->second);
        pending.erase(found);
        std::vector<Tensor> grads = node->backward(g);
        if (grads.size() != node->inputs.size())
            fail<core::Error>("backward: op ", node->op, " returned ", grads.size(), " gradients for ",
                              node->inputs.size(), " inputs");
        for (size_t i = 0; i < grads.size(); ++i) {
            Variable& input = node->inputs[i];
            if (input.requires_grad() && grads[i].defined()) deliver(input, grads[i]);
        }
        if (!retain_graph) var.data_->node.reset();
    }
}

std::vector<Tensor> gradients(const Variable& output, const std::vector<Variable>& inputs) {
    if (!output.defined() || output.numel() != 1)
        fail<core::ShapeError>("gradients: the output must be one element, got shape ",
                               output.defined() ? core::shape_str(output.shape()) : std::string("(undefined)"));
    for (size_t i = 0; i < inputs.size(); ++i)
        if (!inputs[i].defined() || !inputs[i].is_leaf() || !inputs[i].requires_grad())
            fail<core::ValueError>("gradients: input ", i, " is not a leaf variable that requires a gradient");
    std::vector<Tensor> result(inputs.size());
    // The same additions, in the same order, as accumulate_grad would make into .grad.
    Variable::run_backward(output, Tensor::ones(output.shape()), /*retain_graph=*/false,
                           [&](Variable& target, const Tensor& g) {
                               for (size_t i = 0; i < inputs.size(); ++i) {
                                   if (!inputs[i].same(target)) continue;
                                   result[i] = result[i].defined() ? core::add(result[i], g) : g;
                                   return;
                               }
                           });
    return result;
}

}  // namespace proact::autograd
