// Internal helpers shared by the shim's translation units. Not part of the C ABI.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cstring>
#include <string>
#include <vector>

#include "include/ctorch.h"

struct upt_generator_s {
  at::Generator gen;
};

namespace upt {

void set_error(const char *message);

inline at::Tensor &T(upt_tensor t) { return *reinterpret_cast<at::Tensor *>(t); }

inline upt_tensor wrap(at::Tensor &&t) {
  if (!t.defined()) return nullptr;
  return reinterpret_cast<upt_tensor>(new at::Tensor(std::move(t)));
}

inline c10::optional<at::Tensor> opt(upt_tensor t) {
  if (t == nullptr) return c10::nullopt;
  return T(t);
}

inline at::Tensor or_undefined(upt_tensor t) { return t == nullptr ? at::Tensor() : T(t); }

at::ScalarType to_scalar_type(upt_dtype d);
upt_dtype from_scalar_type(at::ScalarType s);
at::Device to_device(upt_device d);
at::TensorOptions options(upt_dtype dtype, upt_device dev);

inline at::Scalar scalar(upt_scalar s) {
  switch (s.kind) {
    case 1: return at::Scalar(s.i);
    case 2: return at::Scalar(s.i != 0);
    default: return at::Scalar(s.f);
  }
}

inline at::IntArrayRef ints(const int64_t *p, int32_t n) {
  return at::IntArrayRef(p, static_cast<size_t>(n));
}

inline at::OptionalIntArrayRef opt_ints(const int64_t *p, int32_t n) {
  if (p == nullptr) return c10::nullopt;
  return at::IntArrayRef(p, static_cast<size_t>(n));
}

std::vector<at::Tensor> list(const upt_tensor *ts, int32_t n);

inline c10::optional<at::Generator> gen(upt_generator g) {
  if (g == nullptr) return c10::nullopt;
  return g->gen;
}

}  // namespace upt

// Every shim function body runs inside UPT_TRY: no exception escapes, the first line of the
// message (without libtorch's backtrace) goes to the thread-local error slot.
#define UPT_TRY(...)                                              \
  try {                                                           \
    __VA_ARGS__;                                                  \
    return 0;                                                     \
  } catch (const c10::Error &e) {                                 \
    upt::set_error(e.what_without_backtrace());                   \
  } catch (const std::exception &e) {                             \
    upt::set_error(e.what());                                     \
  } catch (...) {                                                 \
    upt::set_error("unknown C++ exception");                      \
  }                                                               \
  return 1;

#define UPT_OUT(expr) UPT_TRY(*out = upt::wrap(expr))
