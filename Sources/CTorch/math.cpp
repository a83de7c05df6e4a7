// Elementwise math, in-place updates, reductions and linear algebra.
#include "shim.h"

using upt::T;

#define UPT_BINARY(name, expr)                                     \
  int upt_##name(upt_tensor *out, upt_tensor a_, upt_tensor b_) {  \
    UPT_TRY(const at::Tensor &a = T(a_); const at::Tensor &b = T(b_); *out = upt::wrap(expr)) \
  }
#define UPT_SCALAR(name, expr)                                     \
  int upt_##name(upt_tensor *out, upt_tensor a_, upt_scalar s_) {  \
    UPT_TRY(const at::Tensor &a = T(a_); at::Scalar s = upt::scalar(s_); *out = upt::wrap(expr)) \
  }
#define UPT_UNARY(name, expr) \
  int upt_##name(upt_tensor *out, upt_tensor t_) { UPT_TRY(const at::Tensor &t = T(t_); *out = upt::wrap(expr)) }

namespace {
at::OptionalIntArrayRef dims_or_all(const int64_t *dims, int32_t n) { return upt::opt_ints(dims, n); }
c10::optional<at::ScalarType> opt_dtype(upt_dtype d) {
  if (d == UPT_DTYPE_UNKNOWN) return c10::nullopt;
  return upt::to_scalar_type(d);
}
}  // namespace

extern "C" {

int upt_add(upt_tensor *out, upt_tensor a, upt_tensor b, upt_scalar alpha) {
  UPT_OUT(at::add(T(a), T(b), upt::scalar(alpha)))
}
int upt_sub(upt_tensor *out, upt_tensor a, upt_tensor b, upt_scalar alpha) {
  UPT_OUT(at::sub(T(a), T(b), upt::scalar(alpha)))
}
UPT_BINARY(mul, at::mul(a, b))
UPT_BINARY(div, at::div(a, b))
UPT_BINARY(pow, at::pow(a, b))
UPT_BINARY(remainder, at::remainder(a, b))
UPT_BINARY(fmod, at::fmod(a, b))
UPT_BINARY(floor_divide, at::div(a, b, "floor"))
UPT_BINARY(atan2, at::atan2(a, b))
UPT_BINARY(maximum, at::maximum(a, b))
UPT_BINARY(minimum, at::minimum(a, b))
UPT_BINARY(eq, at::eq(a, b))
UPT_BINARY(ne, at::ne(a, b))
UPT_BINARY(lt, at::lt(a, b))
UPT_BINARY(le, at::le(a, b))
UPT_BINARY(gt, at::gt(a, b))
UPT_BINARY(ge, at::ge(a, b))
UPT_BINARY(logical_and, at::logical_and(a, b))
UPT_BINARY(logical_or, at::logical_or(a, b))
UPT_BINARY(logical_xor, at::logical_xor(a, b))

UPT_SCALAR(add_scalar, at::add(a, s))
UPT_SCALAR(sub_scalar, at::sub(a, s))
UPT_SCALAR(rsub_scalar, at::rsub(a, s))
UPT_SCALAR(mul_scalar, at::mul(a, s))
UPT_SCALAR(div_scalar, at::div(a, s))
UPT_SCALAR(rdiv_scalar, at::mul(at::reciprocal(a), s))
UPT_SCALAR(pow_scalar, at::pow(a, s))
UPT_SCALAR(rpow_scalar, at::pow(s, a))
UPT_SCALAR(remainder_scalar, at::remainder(a, s))
UPT_SCALAR(eq_scalar, at::eq(a, s))
UPT_SCALAR(ne_scalar, at::ne(a, s))
UPT_SCALAR(lt_scalar, at::lt(a, s))
UPT_SCALAR(le_scalar, at::le(a, s))
UPT_SCALAR(gt_scalar, at::gt(a, s))
UPT_SCALAR(ge_scalar, at::ge(a, s))

UPT_UNARY(neg, at::neg(t))
UPT_UNARY(abs, at::abs(t))
UPT_UNARY(exp, at::exp(t))
UPT_UNARY(expm1, at::expm1(t))
UPT_UNARY(log, at::log(t))
UPT_UNARY(log1p, at::log1p(t))
UPT_UNARY(log2, at::log2(t))
UPT_UNARY(log10, at::log10(t))
UPT_UNARY(sqrt, at::sqrt(t))
UPT_UNARY(rsqrt, at::rsqrt(t))
UPT_UNARY(square, at::square(t))
UPT_UNARY(reciprocal, at::reciprocal(t))
UPT_UNARY(sin, at::sin(t))
UPT_UNARY(cos, at::cos(t))
UPT_UNARY(tan, at::tan(t))
UPT_UNARY(atan, at::atan(t))
UPT_UNARY(tanh, at::tanh(t))
UPT_UNARY(sigmoid, at::sigmoid(t))
UPT_UNARY(relu, at::relu(t))
UPT_UNARY(silu, at::silu(t))
UPT_UNARY(erf, at::erf(t))
UPT_UNARY(floor, at::floor(t))
UPT_UNARY(ceil, at::ceil(t))
UPT_UNARY(round, at::round(t))
UPT_UNARY(trunc, at::trunc(t))
UPT_UNARY(sign, at::sign(t))
UPT_UNARY(isnan, at::isnan(t))
UPT_UNARY(isinf, at::isinf(t))
UPT_UNARY(isfinite, at::isfinite(t))
UPT_UNARY(logical_not, at::logical_not(t))

int upt_gelu(upt_tensor *out, upt_tensor t, const char *approximate) {
  UPT_OUT(at::gelu(T(t), approximate == nullptr ? "none" : approximate))
}
int upt_leaky_relu(upt_tensor *out, upt_tensor t, double slope) {
  UPT_OUT(at::leaky_relu(T(t), slope))
}
int upt_elu(upt_tensor *out, upt_tensor t, double alpha) { UPT_OUT(at::elu(T(t), alpha)) }
int upt_softplus(upt_tensor *out, upt_tensor t, double beta, double threshold) {
  UPT_OUT(at::softplus(T(t), beta, threshold))
}
int upt_nan_to_num(upt_tensor *out, upt_tensor t, double nan, double posinf, double neginf) {
  UPT_OUT(at::nan_to_num(T(t), nan, posinf, neginf))
}
int upt_softmax(upt_tensor *out, upt_tensor t, int64_t dim) { UPT_OUT(at::softmax(T(t), dim)) }
int upt_log_softmax(upt_tensor *out, upt_tensor t, int64_t dim) {
  UPT_OUT(at::log_softmax(T(t), dim))
}
int upt_clamp(upt_tensor *out, upt_tensor t, bool has_min, upt_scalar min, bool has_max,
              upt_scalar max) {
  UPT_TRY({
    c10::optional<at::Scalar> lo, hi;
    if (has_min) lo = upt::scalar(min);
    if (has_max) hi = upt::scalar(max);
    *out = upt::wrap(at::clamp(T(t), lo, hi));
  })
}
int upt_clamp_tensor(upt_tensor *out, upt_tensor t, upt_tensor min, upt_tensor max) {
  UPT_OUT(at::clamp(T(t), upt::opt(min), upt::opt(max)))
}
int upt_lerp(upt_tensor *out, upt_tensor a, upt_tensor b, upt_scalar weight) {
  UPT_OUT(at::lerp(T(a), T(b), upt::scalar(weight)))
}

int upt_add_(upt_tensor t, upt_tensor other, upt_scalar alpha) {
  UPT_TRY(T(t).add_(T(other), upt::scalar(alpha)))
}
int upt_mul_(upt_tensor t, upt_tensor other) { UPT_TRY(T(t).mul_(T(other))) }
int upt_mul_scalar_(upt_tensor t, upt_scalar s) { UPT_TRY(T(t).mul_(upt::scalar(s))) }
int upt_div_(upt_tensor t, upt_tensor other) { UPT_TRY(T(t).div_(T(other))) }
int upt_addcmul_(upt_tensor t, upt_tensor a, upt_tensor b, upt_scalar value) {
  UPT_TRY(T(t).addcmul_(T(a), T(b), upt::scalar(value)))
}
int upt_addcdiv_(upt_tensor t, upt_tensor a, upt_tensor b, upt_scalar value) {
  UPT_TRY(T(t).addcdiv_(T(a), T(b), upt::scalar(value)))
}
int upt_lerp_(upt_tensor t, upt_tensor end, upt_scalar weight) {
  UPT_TRY(T(t).lerp_(T(end), upt::scalar(weight)))
}
int upt_copy_(upt_tensor dst, upt_tensor src) { UPT_TRY(T(dst).copy_(T(src))) }
int upt_zero_(upt_tensor t) { UPT_TRY(T(t).zero_()) }
int upt_fill_(upt_tensor t, upt_scalar value) { UPT_TRY(T(t).fill_(upt::scalar(value))) }
int upt_clamp_(upt_tensor t, bool has_min, upt_scalar min, bool has_max, upt_scalar max) {
  UPT_TRY({
    c10::optional<at::Scalar> lo, hi;
    if (has_min) lo = upt::scalar(min);
    if (has_max) hi = upt::scalar(max);
    T(t).clamp_(lo, hi);
  })
}

int upt_sum(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool keepdim,
            upt_dtype dtype) {
  UPT_TRY({
    if (dims == nullptr && !keepdim)
      *out = upt::wrap(at::sum(T(t), opt_dtype(dtype)));
    else
      *out = upt::wrap(at::sum(T(t), dims_or_all(dims, n), keepdim, opt_dtype(dtype)));
  })
}
int upt_mean(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool keepdim,
             upt_dtype dtype) {
  UPT_TRY({
    if (dims == nullptr && !keepdim)
      *out = upt::wrap(at::mean(T(t), opt_dtype(dtype)));
    else
      *out = upt::wrap(at::mean(T(t), dims_or_all(dims, n), keepdim, opt_dtype(dtype)));
  })
}
int upt_prod(upt_tensor *out, upt_tensor t, bool has_dim, int64_t dim, bool keepdim) {
  UPT_TRY(*out = upt::wrap(has_dim ? at::prod(T(t), dim, keepdim) : at::prod(T(t))))
}
int upt_amax(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool keepdim) {
  UPT_TRY(*out = upt::wrap(dims == nullptr && !keepdim ? at::max(T(t))
                                                       : at::amax(T(t), upt::ints(dims, n), keepdim)))
}
int upt_amin(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool keepdim) {
  UPT_TRY(*out = upt::wrap(dims == nullptr && !keepdim ? at::min(T(t))
                                                       : at::amin(T(t), upt::ints(dims, n), keepdim)))
}
int upt_max_dim(upt_tensor *values, upt_tensor *indices, upt_tensor t, int64_t dim, bool keepdim) {
  UPT_TRY({
    auto r = at::max(T(t), dim, keepdim);
    *values = upt::wrap(std::move(std::get<0>(r)));
    *indices = upt::wrap(std::move(std::get<1>(r)));
  })
}
int upt_min_dim(upt_tensor *values, upt_tensor *indices, upt_tensor t, int64_t dim, bool keepdim) {
  UPT_TRY({
    auto r = at::min(T(t), dim, keepdim);
    *values = upt::wrap(std::move(std::get<0>(r)));
    *indices = upt::wrap(std::move(std::get<1>(r)));
  })
}
int upt_argmax(upt_tensor *out, upt_tensor t, bool has_dim, int64_t dim, bool keepdim) {
  UPT_OUT(at::argmax(T(t), has_dim ? c10::optional<int64_t>(dim) : c10::nullopt, keepdim))
}
int upt_argmin(upt_tensor *out, upt_tensor t, bool has_dim, int64_t dim, bool keepdim) {
  UPT_OUT(at::argmin(T(t), has_dim ? c10::optional<int64_t>(dim) : c10::nullopt, keepdim))
}
int upt_std(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool unbiased,
            bool keepdim) {
  UPT_OUT(at::std(T(t), dims_or_all(dims, n), unbiased, keepdim))
}
int upt_var(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool unbiased,
            bool keepdim) {
  UPT_OUT(at::var(T(t), dims_or_all(dims, n), unbiased, keepdim))
}
int upt_quantile(upt_tensor *out, upt_tensor t, upt_tensor q, bool has_dim, int64_t dim,
                 bool keepdim, const char *interpolation) {
  UPT_OUT(at::quantile(T(t), T(q), has_dim ? c10::optional<int64_t>(dim) : c10::nullopt, keepdim,
                       interpolation == nullptr ? "linear" : interpolation))
}
int upt_nanquantile(upt_tensor *out, upt_tensor t, upt_tensor q, bool has_dim, int64_t dim,
                    bool keepdim, const char *interpolation) {
  UPT_OUT(at::nanquantile(T(t), T(q), has_dim ? c10::optional<int64_t>(dim) : c10::nullopt,
                          keepdim, interpolation == nullptr ? "linear" : interpolation))
}
int upt_norm(upt_tensor *out, upt_tensor t, double p, const int64_t *dims, int32_t n,
             bool keepdim) {
  UPT_OUT(at::linalg_vector_norm(T(t), p, dims_or_all(dims, n), keepdim))
}
int upt_logsumexp(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool keepdim) {
  UPT_OUT(at::logsumexp(T(t), upt::ints(dims, n), keepdim))
}
int upt_cumsum(upt_tensor *out, upt_tensor t, int64_t dim) { UPT_OUT(at::cumsum(T(t), dim)) }
int upt_all(upt_tensor *out, upt_tensor t) { UPT_OUT(at::all(T(t))) }
int upt_any(upt_tensor *out, upt_tensor t) { UPT_OUT(at::any(T(t))) }
int upt_equal(upt_tensor a, upt_tensor b, bool *out) { UPT_TRY(*out = at::equal(T(a), T(b))) }
int upt_allclose(upt_tensor a, upt_tensor b, double rtol, double atol, bool equal_nan, bool *out) {
  UPT_TRY(*out = at::allclose(T(a), T(b), rtol, atol, equal_nan))
}

UPT_BINARY(matmul, at::matmul(a, b))
UPT_BINARY(mm, at::mm(a, b))
UPT_BINARY(bmm, at::bmm(a, b))
int upt_einsum(upt_tensor *out, const char *equation, const upt_tensor *ts, int32_t n) {
  UPT_OUT(at::einsum(equation, upt::list(ts, n)))
}
UPT_UNARY(linalg_inv, at::linalg_inv(t))
UPT_UNARY(linalg_det, at::linalg_det(t))

}  // extern "C"
