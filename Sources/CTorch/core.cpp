// Errors, runtime configuration, tensor lifecycle, creation, conversion and randomness.
#include "shim.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/version.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <cstdlib>
#include <mutex>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sstream>

namespace {
thread_local std::string last_error;

char *dup_string(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  if (p == nullptr) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

at::Generator &resolve(upt_generator g) {
  if (g != nullptr) return g->gen;
  static at::Generator dflt = at::detail::getDefaultCPUGenerator();
  return dflt;
}

// Random numbers are drawn on the CPU from a CPU generator and then moved, so that one seed gives
// the same numbers on every device.
at::Tensor to_device(at::Tensor t, upt_device dev) {
  if (dev.type == UPT_CPU) return t;
  return t.to(upt::to_device(dev));
}
}  // namespace

namespace upt {

void set_error(const char *message) {
  std::string m = message == nullptr ? "" : message;
  auto nl = m.find('\n');
  if (nl != std::string::npos) m.resize(nl);
  last_error = m.empty() ? "libtorch error without a message" : m;
}

at::ScalarType to_scalar_type(upt_dtype d) {
  switch (d) {
    case UPT_FLOAT32: return at::kFloat;
    case UPT_FLOAT64: return at::kDouble;
    case UPT_FLOAT16: return at::kHalf;
    case UPT_BFLOAT16: return at::kBFloat16;
    case UPT_INT64: return at::kLong;
    case UPT_INT32: return at::kInt;
    case UPT_INT16: return at::kShort;
    case UPT_INT8: return at::kChar;
    case UPT_UINT8: return at::kByte;
    case UPT_BOOL: return at::kBool;
    case UPT_COMPLEX64: return at::kComplexFloat;
    case UPT_COMPLEX128: return at::kComplexDouble;
    default: break;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(static_cast<int>(d)));
}

upt_dtype from_scalar_type(at::ScalarType s) {
  switch (s) {
    case at::kFloat: return UPT_FLOAT32;
    case at::kDouble: return UPT_FLOAT64;
    case at::kHalf: return UPT_FLOAT16;
    case at::kBFloat16: return UPT_BFLOAT16;
    case at::kLong: return UPT_INT64;
    case at::kInt: return UPT_INT32;
    case at::kShort: return UPT_INT16;
    case at::kChar: return UPT_INT8;
    case at::kByte: return UPT_UINT8;
    case at::kBool: return UPT_BOOL;
    case at::kComplexFloat: return UPT_COMPLEX64;
    case at::kComplexDouble: return UPT_COMPLEX128;
    default: return UPT_DTYPE_UNKNOWN;
  }
}

at::Device to_device(upt_device d) {
  switch (d.type) {
    case UPT_CPU: return at::Device(at::kCPU);
    case UPT_CUDA: return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(d.index));
    default: break;
  }
  throw std::invalid_argument("unknown device type " + std::to_string(d.type));
}

at::TensorOptions options(upt_dtype dtype, upt_device dev) {
  return at::TensorOptions().dtype(to_scalar_type(dtype)).device(to_device(dev));
}

std::vector<at::Tensor> list(const upt_tensor *ts, int32_t n) {
  std::vector<at::Tensor> v;
  v.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) v.push_back(or_undefined(ts[i]));
  return v;
}

}  // namespace upt

extern "C" {

const char *upt_last_error(void) { return last_error.c_str(); }
void upt_clear_error(void) { last_error.clear(); }
int upt_debug_throw(const char *message) { UPT_TRY(TORCH_CHECK(false, message)) }

const char *upt_torch_version(void) { return TORCH_VERSION; }

int upt_build_config(char **out) { UPT_TRY(*out = dup_string(at::show_config())) }
int upt_parallel_info(char **out) { UPT_TRY(*out = dup_string(at::get_parallel_info())) }
void upt_free_string(char *s) { std::free(s); }

int upt_set_num_threads(int32_t n) { UPT_TRY(at::set_num_threads(n)) }
int32_t upt_get_num_threads(void) {
  try {
    return at::get_num_threads();
  } catch (...) {
    return 1;
  }
}

int32_t upt_cuda_device_count(void) {
  try {
    return static_cast<int32_t>(torch::cuda::device_count());
  } catch (...) {
    return 0;
  }
}
bool upt_cuda_is_available(void) {
  try {
    return torch::cuda::is_available();
  } catch (...) {
    return false;
  }
}
int upt_cuda_synchronize(int32_t index) { UPT_TRY(torch::cuda::synchronize(index)) }
bool upt_has_mkldnn(void) { return at::hasMKLDNN(); }
int upt_release_freed_memory(void) {
#if defined(__GLIBC__)
  return malloc_trim(0);
#else
  return 0;
#endif
}
bool upt_has_openmp(void) { return at::hasOpenMP(); }

void upt_free(upt_tensor t) { delete reinterpret_cast<at::Tensor *>(t); }
int32_t upt_ndim(upt_tensor t) { return static_cast<int32_t>(upt::T(t).dim()); }
void upt_sizes(upt_tensor t, int64_t *buf, int32_t capacity) {
  auto s = upt::T(t).sizes();
  for (int32_t i = 0; i < capacity && i < static_cast<int32_t>(s.size()); ++i) buf[i] = s[i];
}
void upt_strides(upt_tensor t, int64_t *buf, int32_t capacity) {
  auto s = upt::T(t).strides();
  for (int32_t i = 0; i < capacity && i < static_cast<int32_t>(s.size()); ++i) buf[i] = s[i];
}
int64_t upt_numel(upt_tensor t) { return upt::T(t).numel(); }
upt_dtype upt_get_dtype(upt_tensor t) { return upt::from_scalar_type(upt::T(t).scalar_type()); }
upt_device upt_get_device(upt_tensor t) {
  auto d = upt::T(t).device();
  return upt_device{d.is_cuda() ? UPT_CUDA : UPT_CPU, static_cast<int32_t>(d.index())};
}
bool upt_is_contiguous(upt_tensor t) { return upt::T(t).is_contiguous(); }
bool upt_requires_grad(upt_tensor t) { return upt::T(t).requires_grad(); }
bool upt_is_leaf(upt_tensor t) { return upt::T(t).is_leaf(); }
void *upt_data_ptr(upt_tensor t) { return upt::T(t).data_ptr(); }
int upt_to_string(char **out, upt_tensor t) {
  UPT_TRY(std::ostringstream s; s << upt::T(t); *out = dup_string(s.str()))
}
int upt_same_storage(upt_tensor a, upt_tensor b, bool *out) {
  UPT_TRY(*out = upt::T(a).is_alias_of(upt::T(b)))
}

int upt_empty(upt_tensor *out, const int64_t *sizes, int32_t n, upt_dtype dtype, upt_device dev) {
  UPT_OUT(at::empty(upt::ints(sizes, n), upt::options(dtype, dev)))
}
int upt_zeros(upt_tensor *out, const int64_t *sizes, int32_t n, upt_dtype dtype, upt_device dev) {
  UPT_OUT(at::zeros(upt::ints(sizes, n), upt::options(dtype, dev)))
}
int upt_ones(upt_tensor *out, const int64_t *sizes, int32_t n, upt_dtype dtype, upt_device dev) {
  UPT_OUT(at::ones(upt::ints(sizes, n), upt::options(dtype, dev)))
}
int upt_full(upt_tensor *out, const int64_t *sizes, int32_t n, upt_scalar value, upt_dtype dtype,
             upt_device dev) {
  UPT_OUT(at::full(upt::ints(sizes, n), upt::scalar(value), upt::options(dtype, dev)))
}
int upt_arange(upt_tensor *out, upt_scalar start, upt_scalar end, upt_scalar step, upt_dtype dtype,
               upt_device dev) {
  UPT_OUT(at::arange(upt::scalar(start), upt::scalar(end), upt::scalar(step),
                     upt::options(dtype, dev)))
}
int upt_linspace(upt_tensor *out, double start, double end, int64_t steps, upt_dtype dtype,
                 upt_device dev) {
  UPT_OUT(at::linspace(start, end, steps, upt::options(dtype, dev)))
}
int upt_eye(upt_tensor *out, int64_t n, int64_t m, upt_dtype dtype, upt_device dev) {
  UPT_OUT(at::eye(n, m, upt::options(dtype, dev)))
}
int upt_scalar_tensor(upt_tensor *out, upt_scalar value, upt_dtype dtype, upt_device dev) {
  UPT_OUT(at::scalar_tensor(upt::scalar(value), upt::options(dtype, dev)))
}
int upt_from_data(upt_tensor *out, const void *data, size_t nbytes, const int64_t *sizes,
                  int32_t n, upt_dtype dtype) {
  UPT_TRY({
    at::Tensor t = at::empty(upt::ints(sizes, n), upt::options(dtype, upt_device{UPT_CPU, -1}));
    size_t expected = static_cast<size_t>(t.numel()) * t.element_size();
    TORCH_CHECK(expected == nbytes, "from_data: ", nbytes, " bytes given, ", expected,
                " expected for the shape and dtype");
    if (nbytes > 0) std::memcpy(t.data_ptr(), data, nbytes);
    *out = upt::wrap(std::move(t));
  })
}
int upt_from_blob(upt_tensor *out, void *data, const int64_t *sizes, const int64_t *strides,
                  int32_t n, upt_dtype dtype, void (*deleter)(void *), void *context) {
  UPT_TRY({
    auto opts = upt::options(dtype, upt_device{UPT_CPU, -1});
    std::function<void(void *)> del = [deleter, context](void *) {
      if (deleter != nullptr) deleter(context);
    };
    if (strides == nullptr)
      *out = upt::wrap(at::from_blob(data, upt::ints(sizes, n), del, opts));
    else
      *out = upt::wrap(at::from_blob(data, upt::ints(sizes, n), upt::ints(strides, n), del, opts));
  })
}
int upt_copy_to_buffer(upt_tensor t, void *dst, size_t nbytes) {
  UPT_TRY({
    at::Tensor c = upt::T(t).detach();
    if (!c.device().is_cpu()) c = c.to(at::kCPU);
    c = c.contiguous();
    size_t have = static_cast<size_t>(c.numel()) * c.element_size();
    TORCH_CHECK(have == nbytes, "copy_to_buffer: the tensor holds ", have, " bytes, the buffer ",
                nbytes);
    if (nbytes > 0) std::memcpy(dst, c.data_ptr(), nbytes);
  })
}
int upt_item_double(upt_tensor t, double *out) { UPT_TRY(*out = upt::T(t).item<double>()) }
int upt_item_int64(upt_tensor t, int64_t *out) { UPT_TRY(*out = upt::T(t).item<int64_t>()) }
int upt_to(upt_tensor *out, upt_tensor t, upt_dtype dtype, upt_device dev, bool copy) {
  UPT_OUT(upt::T(t).to(upt::to_device(dev), upt::to_scalar_type(dtype), false, copy))
}
int upt_clone(upt_tensor *out, upt_tensor t) { UPT_OUT(upt::T(t).clone()) }
int upt_alias(upt_tensor *out, upt_tensor t) { UPT_OUT(at::Tensor(upt::T(t))) }
int upt_view_dtype(upt_tensor *out, upt_tensor t, upt_dtype dtype) {
  UPT_OUT(upt::T(t).view(upt::to_scalar_type(dtype)))
}

int upt_manual_seed(uint64_t seed) { UPT_TRY(torch::manual_seed(seed)) }
int upt_generator_new(upt_generator *out, uint64_t seed) {
  UPT_TRY(*out = new upt_generator_s{at::make_generator<at::CPUGeneratorImpl>(seed)})
}
void upt_generator_free(upt_generator g) { delete g; }
int upt_generator_seed(upt_generator g, uint64_t *out) {
  UPT_TRY({
    auto &gen = resolve(g);
    std::lock_guard<std::mutex> lock(gen.mutex());
    *out = gen.current_seed();
  })
}
int upt_generator_get_state(upt_tensor *out, upt_generator g) {
  UPT_TRY({
    auto &gen = resolve(g);
    std::lock_guard<std::mutex> lock(gen.mutex());
    *out = upt::wrap(gen.get_state());
  })
}
int upt_generator_set_state(upt_generator g, upt_tensor state) {
  UPT_TRY({
    auto &gen = resolve(g);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(upt::T(state));
  })
}
int upt_rand(upt_tensor *out, const int64_t *sizes, int32_t n, upt_dtype dtype, upt_device dev,
             upt_generator g) {
  UPT_OUT(to_device(at::rand(upt::ints(sizes, n), upt::gen(g),
                             upt::options(dtype, upt_device{UPT_CPU, -1})),
                    dev))
}
int upt_randn(upt_tensor *out, const int64_t *sizes, int32_t n, upt_dtype dtype, upt_device dev,
              upt_generator g) {
  UPT_OUT(to_device(at::randn(upt::ints(sizes, n), upt::gen(g),
                              upt::options(dtype, upt_device{UPT_CPU, -1})),
                    dev))
}
int upt_randint(upt_tensor *out, int64_t low, int64_t high, const int64_t *sizes, int32_t n,
                upt_dtype dtype, upt_device dev, upt_generator g) {
  UPT_OUT(to_device(at::randint(low, high, upt::ints(sizes, n), upt::gen(g),
                                upt::options(dtype, upt_device{UPT_CPU, -1})),
                    dev))
}
int upt_randperm(upt_tensor *out, int64_t n, upt_dtype dtype, upt_device dev, upt_generator g) {
  UPT_OUT(to_device(at::randperm(n, upt::gen(g), upt::options(dtype, upt_device{UPT_CPU, -1})),
                    dev))
}
// A generator of upres's own is a CPU generator: for a tensor on another device, sample on the CPU
// and copy, so that a seed means the same numbers everywhere.
int upt_bernoulli(upt_tensor *out, upt_tensor probabilities, upt_generator g) {
  UPT_TRY({
    const at::Tensor &p = upt::T(probabilities);
    if (g != nullptr && !p.device().is_cpu())
      *out = upt::wrap(at::bernoulli(p.to(at::kCPU), g->gen).to(p.device()));
    else
      *out = upt::wrap(at::bernoulli(p, upt::gen(g)));
  })
}
int upt_uniform_(upt_tensor t, double from, double to, upt_generator g) {
  UPT_TRY({
    at::Tensor &x = upt::T(t);
    if (g != nullptr && !x.device().is_cpu())
      x.copy_(at::empty(x.sizes(), x.options().device(at::kCPU)).uniform_(from, to, g->gen));
    else
      x.uniform_(from, to, upt::gen(g));
  })
}
int upt_normal_(upt_tensor t, double mean, double std, upt_generator g) {
  UPT_TRY({
    at::Tensor &x = upt::T(t);
    if (g != nullptr && !x.device().is_cpu())
      x.copy_(at::empty(x.sizes(), x.options().device(at::kCPU)).normal_(mean, std, g->gen));
    else
      x.normal_(mean, std, upt::gen(g));
  })
}

}  // extern "C"
