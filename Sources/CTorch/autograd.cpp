// Autograd: gradients, backward passes, gradients of gradients and the grad mode.
#include "shim.h"

#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

using upt::T;

extern "C" {

int upt_ag_set_requires_grad(upt_tensor t, bool requires) {
  UPT_TRY(T(t).set_requires_grad(requires))
}
int upt_ag_grad(upt_tensor *out, upt_tensor t) { UPT_TRY(*out = upt::wrap(at::Tensor(T(t).grad()))) }
int upt_ag_set_grad(upt_tensor t, upt_tensor grad) {
  UPT_TRY(T(t).mutable_grad() = upt::or_undefined(grad))
}
int upt_ag_zero_grad(upt_tensor t, bool set_to_none) {
  UPT_TRY({
    at::Tensor &g = T(t).mutable_grad();
    if (!g.defined()) return 0;
    if (set_to_none) {
      g = at::Tensor();
    } else {
      if (g.grad_fn()) g = g.detach();
      else g.requires_grad_(false);
      g.zero_();
    }
  })
}
int upt_ag_detach(upt_tensor *out, upt_tensor t) { UPT_OUT(T(t).detach()) }
int upt_ag_detach_(upt_tensor t) { UPT_TRY(T(t).detach_()) }
int upt_ag_backward(upt_tensor t, upt_tensor gradient, bool retain_graph, bool create_graph) {
  UPT_TRY({
    torch::autograd::variable_list grads;
    if (gradient != nullptr) grads.push_back(T(gradient));
    torch::autograd::backward({T(t)}, grads, retain_graph, create_graph);
  })
}
int upt_ag_grad_of(upt_tensor *results, const upt_tensor *outputs, int32_t n_outputs,
                   const upt_tensor *inputs, int32_t n_inputs, const upt_tensor *grad_outputs,
                   bool retain_graph, bool create_graph, bool allow_unused) {
  UPT_TRY({
    torch::autograd::variable_list outs = upt::list(outputs, n_outputs);
    torch::autograd::variable_list ins = upt::list(inputs, n_inputs);
    torch::autograd::variable_list gouts;
    if (grad_outputs != nullptr) gouts = upt::list(grad_outputs, n_outputs);
    auto r = torch::autograd::grad(outs, ins, gouts, retain_graph, create_graph, allow_unused);
    for (size_t i = 0; i < r.size(); ++i) results[i] = upt::wrap(std::move(r[i]));
  })
}
bool upt_ag_is_grad_enabled(void) { return c10::GradMode::is_enabled(); }
void upt_ag_set_grad_enabled(bool enabled) { c10::GradMode::set_enabled(enabled); }

}  // extern "C"
