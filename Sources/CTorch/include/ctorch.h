/*
 * ctorch.h — the C ABI over libtorch used by upres.
 *
 * Conventions (after tch-rs' torch_api.h):
 *  - Handles are opaque. A `upt_tensor` returned through an out-parameter is owned by the caller
 *    (+1) and must be released with upt_free. A NULL handle stands for an undefined tensor
 *    (an absent gradient, an absent optional argument).
 *  - Every function that can fail returns 0 on success and non-zero on failure. On failure the
 *    first line of libtorch's message (without the C++ backtrace) is kept in a thread-local slot
 *    that upt_last_error() reads. No C++ exception ever crosses this boundary.
 *  - Lists are a pointer and a length. Optional integer lists pass a NULL pointer.
 *  - Prefixes per family: upt_ (core), upt_rand_ (randomness), upt_ag_ (autograd), upt_fft_,
 *    upt_dist_ (distributed).
 */
#ifndef UPRES_CTORCH_H
#define UPRES_CTORCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct upt_tensor_s *upt_tensor;
typedef struct upt_generator_s *upt_generator;

/* Element types; values are upres's own, mapped to c10::ScalarType inside the shim. */
typedef enum {
  UPT_FLOAT32 = 0,
  UPT_FLOAT64 = 1,
  UPT_FLOAT16 = 2,
  UPT_BFLOAT16 = 3,
  UPT_INT64 = 4,
  UPT_INT32 = 5,
  UPT_INT16 = 6,
  UPT_INT8 = 7,
  UPT_UINT8 = 8,
  UPT_BOOL = 9,
  UPT_COMPLEX64 = 10,
  UPT_COMPLEX128 = 11,
  UPT_DTYPE_UNKNOWN = 255
} upt_dtype;

typedef enum { UPT_CPU = 0, UPT_CUDA = 1 } upt_device_type;

typedef struct {
  int32_t type;  /* upt_device_type */
  int32_t index; /* -1: the current device of that type */
} upt_device;

/* A Swift number handed to libtorch: integers stay integers (PyTorch's type promotion). */
typedef struct {
  int32_t kind; /* 0 double, 1 int64, 2 bool */
  double f;
  int64_t i;
} upt_scalar;

/* ---- errors, runtime, configuration ------------------------------------------------------ */
const char *upt_last_error(void);
void upt_clear_error(void);
/* Raises a libtorch error on purpose (tests of the error path). */
int upt_debug_throw(const char *message);
const char *upt_torch_version(void);
/* Caller frees the returned strings with upt_free_string. */
int upt_build_config(char **out);
int upt_parallel_info(char **out);
void upt_free_string(char *s);
int upt_set_num_threads(int32_t n);
int32_t upt_get_num_threads(void);
int32_t upt_cuda_device_count(void);
bool upt_cuda_is_available(void);
int upt_cuda_synchronize(int32_t index);
bool upt_has_mkldnn(void);
/* Returns freed C-heap memory to the system (glibc malloc_trim); 0 where unavailable. */
int upt_release_freed_memory(void);
bool upt_has_openmp(void);

/* ---- lifecycle and facts ------------------------------------------------------------------ */
void upt_free(upt_tensor t);
int32_t upt_ndim(upt_tensor t);
/* Copies min(ndim, capacity) sizes (or strides) into buf. */
void upt_sizes(upt_tensor t, int64_t *buf, int32_t capacity);
void upt_strides(upt_tensor t, int64_t *buf, int32_t capacity);
int64_t upt_numel(upt_tensor t);
upt_dtype upt_get_dtype(upt_tensor t);
upt_device upt_get_device(upt_tensor t);
bool upt_is_contiguous(upt_tensor t);
bool upt_requires_grad(upt_tensor t);
bool upt_is_leaf(upt_tensor t);
/* The address of the first element (CPU tensors). */
void *upt_data_ptr(upt_tensor t);
int upt_to_string(char **out, upt_tensor t);
int upt_same_storage(upt_tensor a, upt_tensor b, bool *out);

/* ---- creation ----------------------------------------------------------------------------- */
int upt_empty(upt_tensor *out, const int64_t *sizes, int32_t n, upt_dtype dtype, upt_device dev);
int upt_zeros(upt_tensor *out, const int64_t *sizes, int32_t n, upt_dtype dtype, upt_device dev);
int upt_ones(upt_tensor *out, const int64_t *sizes, int32_t n, upt_dtype dtype, upt_device dev);
int upt_full(upt_tensor *out, const int64_t *sizes, int32_t n, upt_scalar value, upt_dtype dtype,
             upt_device dev);
int upt_arange(upt_tensor *out, upt_scalar start, upt_scalar end, upt_scalar step, upt_dtype dtype,
               upt_device dev);
int upt_linspace(upt_tensor *out, double start, double end, int64_t steps, upt_dtype dtype,
                 upt_device dev);
int upt_eye(upt_tensor *out, int64_t n, int64_t m, upt_dtype dtype, upt_device dev);
int upt_scalar_tensor(upt_tensor *out, upt_scalar value, upt_dtype dtype, upt_device dev);
/* Copies nbytes from data into a new contiguous CPU tensor. */
int upt_from_data(upt_tensor *out, const void *data, size_t nbytes, const int64_t *sizes, int32_t n,
                  upt_dtype dtype);
/* Wraps caller memory without a copy; deleter(context) runs when libtorch frees the storage.
   strides may be NULL (contiguous). */
int upt_from_blob(upt_tensor *out, void *data, const int64_t *sizes, const int64_t *strides,
                  int32_t n, upt_dtype dtype, void (*deleter)(void *), void *context);
/* Copies the elements, in row-major order, into dst (nbytes must equal numel * element size). */
int upt_copy_to_buffer(upt_tensor t, void *dst, size_t nbytes);
int upt_item_double(upt_tensor t, double *out);
int upt_item_int64(upt_tensor t, int64_t *out);
int upt_to(upt_tensor *out, upt_tensor t, upt_dtype dtype, upt_device dev, bool copy);
int upt_clone(upt_tensor *out, upt_tensor t);
int upt_alias(upt_tensor *out, upt_tensor t);
/* Reinterprets the bytes of a contiguous tensor as another dtype (Tensor.view(dtype)). */
int upt_view_dtype(upt_tensor *out, upt_tensor t, upt_dtype dtype);

/* ---- randomness --------------------------------------------------------------------------- */
int upt_manual_seed(uint64_t seed);
int upt_generator_new(upt_generator *out, uint64_t seed);
void upt_generator_free(upt_generator g);
int upt_generator_seed(upt_generator g, uint64_t *out);
/* gen NULL: the default generator. The state is a uint8 tensor. */
int upt_generator_get_state(upt_tensor *out, upt_generator g);
int upt_generator_set_state(upt_generator g, upt_tensor state);
int upt_rand(upt_tensor *out, const int64_t *sizes, int32_t n, upt_dtype dtype, upt_device dev,
             upt_generator g);
int upt_randn(upt_tensor *out, const int64_t *sizes, int32_t n, upt_dtype dtype, upt_device dev,
              upt_generator g);
int upt_randint(upt_tensor *out, int64_t low, int64_t high, const int64_t *sizes, int32_t n,
                upt_dtype dtype, upt_device dev, upt_generator g);
int upt_randperm(upt_tensor *out, int64_t n, upt_dtype dtype, upt_device dev, upt_generator g);
int upt_bernoulli(upt_tensor *out, upt_tensor probabilities, upt_generator g);

/* ---- shape -------------------------------------------------------------------------------- */
int upt_reshape(upt_tensor *out, upt_tensor t, const int64_t *sizes, int32_t n);
int upt_view(upt_tensor *out, upt_tensor t, const int64_t *sizes, int32_t n);
int upt_permute(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n);
int upt_transpose(upt_tensor *out, upt_tensor t, int64_t d0, int64_t d1);
int upt_squeeze(upt_tensor *out, upt_tensor t);
int upt_squeeze_dim(upt_tensor *out, upt_tensor t, int64_t dim);
int upt_unsqueeze(upt_tensor *out, upt_tensor t, int64_t dim);
int upt_flatten(upt_tensor *out, upt_tensor t, int64_t start, int64_t end);
int upt_expand(upt_tensor *out, upt_tensor t, const int64_t *sizes, int32_t n);
int upt_contiguous(upt_tensor *out, upt_tensor t);
int upt_narrow(upt_tensor *out, upt_tensor t, int64_t dim, int64_t start, int64_t length);
int upt_slice(upt_tensor *out, upt_tensor t, int64_t dim, int64_t start, int64_t end, int64_t step);
int upt_select(upt_tensor *out, upt_tensor t, int64_t dim, int64_t index);
int upt_index_select(upt_tensor *out, upt_tensor t, int64_t dim, upt_tensor index);
/* Advanced indexing t[i0, i1, ...]; NULL entries stand for a full slice. */
int upt_index(upt_tensor *out, upt_tensor t, const upt_tensor *indices, int32_t n);
int upt_index_put(upt_tensor *out, upt_tensor t, const upt_tensor *indices, int32_t n,
                  upt_tensor values, bool accumulate);
int upt_gather(upt_tensor *out, upt_tensor t, int64_t dim, upt_tensor index);
int upt_scatter(upt_tensor *out, upt_tensor t, int64_t dim, upt_tensor index, upt_tensor src);
int upt_scatter_add(upt_tensor *out, upt_tensor t, int64_t dim, upt_tensor index, upt_tensor src);
int upt_masked_select(upt_tensor *out, upt_tensor t, upt_tensor mask);
int upt_masked_fill(upt_tensor *out, upt_tensor t, upt_tensor mask, upt_scalar value);
int upt_where(upt_tensor *out, upt_tensor cond, upt_tensor a, upt_tensor b);
int upt_nonzero(upt_tensor *out, upt_tensor t);
int upt_cat(upt_tensor *out, const upt_tensor *ts, int32_t n, int64_t dim);
int upt_stack(upt_tensor *out, const upt_tensor *ts, int32_t n, int64_t dim);
/* Splits into pieces: out must have room for `capacity` handles; *count receives how many. */
int upt_split(upt_tensor *out, int32_t capacity, int32_t *count, upt_tensor t, int64_t size,
              int64_t dim);
int upt_split_sizes(upt_tensor *out, int32_t capacity, int32_t *count, upt_tensor t,
                    const int64_t *sizes, int32_t n, int64_t dim);
int upt_chunk(upt_tensor *out, int32_t capacity, int32_t *count, upt_tensor t, int64_t chunks,
              int64_t dim);
int upt_flip(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n);
int upt_roll(upt_tensor *out, upt_tensor t, const int64_t *shifts, const int64_t *dims, int32_t n);
/* mode: "constant", "reflect", "replicate", "circular" (torch.nn.functional.pad's order of pads). */
int upt_pad(upt_tensor *out, upt_tensor t, const int64_t *pads, int32_t n, const char *mode,
            double value);
int upt_repeat(upt_tensor *out, upt_tensor t, const int64_t *repeats, int32_t n);
int upt_unfold_dim(upt_tensor *out, upt_tensor t, int64_t dim, int64_t size, int64_t step);
int upt_meshgrid(upt_tensor *out, const upt_tensor *ts, int32_t n, const char *indexing);
int upt_tril(upt_tensor *out, upt_tensor t, int64_t diagonal);
int upt_triu(upt_tensor *out, upt_tensor t, int64_t diagonal);
int upt_sort(upt_tensor *values, upt_tensor *indices, upt_tensor t, int64_t dim, bool descending);
int upt_topk(upt_tensor *values, upt_tensor *indices, upt_tensor t, int64_t k, int64_t dim,
             bool largest);

/* ---- elementwise math --------------------------------------------------------------------- */
typedef enum {
  UPT_ADD = 0, UPT_SUB, UPT_MUL, UPT_DIV, UPT_POW, UPT_REMAINDER, UPT_FMOD, UPT_ATAN2,
  UPT_MAXIMUM, UPT_MINIMUM, UPT_EQ, UPT_NE, UPT_LT, UPT_LE, UPT_GT, UPT_GE,
  UPT_LOGICAL_AND, UPT_LOGICAL_OR, UPT_LOGICAL_XOR, UPT_FLOOR_DIVIDE
} upt_binary_op;
int upt_add(upt_tensor *out, upt_tensor a, upt_tensor b, upt_scalar alpha);
int upt_sub(upt_tensor *out, upt_tensor a, upt_tensor b, upt_scalar alpha);
int upt_mul(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_div(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_pow(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_remainder(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_fmod(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_floor_divide(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_atan2(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_maximum(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_minimum(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_eq(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_ne(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_lt(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_le(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_gt(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_ge(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_logical_and(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_logical_or(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_logical_xor(upt_tensor *out, upt_tensor a, upt_tensor b);
/* Tensor (op) scalar. */
int upt_add_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);
int upt_sub_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);
int upt_rsub_scalar(upt_tensor *out, upt_tensor a, upt_scalar s); /* s - a */
int upt_mul_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);
int upt_div_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);
int upt_rdiv_scalar(upt_tensor *out, upt_tensor a, upt_scalar s); /* s / a */
int upt_pow_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);
int upt_rpow_scalar(upt_tensor *out, upt_tensor a, upt_scalar s); /* s ** a */
int upt_remainder_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);
int upt_eq_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);
int upt_ne_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);
int upt_lt_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);
int upt_le_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);
int upt_gt_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);
int upt_ge_scalar(upt_tensor *out, upt_tensor a, upt_scalar s);

int upt_neg(upt_tensor *out, upt_tensor t);
int upt_abs(upt_tensor *out, upt_tensor t);
int upt_exp(upt_tensor *out, upt_tensor t);
int upt_expm1(upt_tensor *out, upt_tensor t);
int upt_log(upt_tensor *out, upt_tensor t);
int upt_log1p(upt_tensor *out, upt_tensor t);
int upt_log2(upt_tensor *out, upt_tensor t);
int upt_log10(upt_tensor *out, upt_tensor t);
int upt_sqrt(upt_tensor *out, upt_tensor t);
int upt_rsqrt(upt_tensor *out, upt_tensor t);
int upt_square(upt_tensor *out, upt_tensor t);
int upt_reciprocal(upt_tensor *out, upt_tensor t);
int upt_sin(upt_tensor *out, upt_tensor t);
int upt_cos(upt_tensor *out, upt_tensor t);
int upt_tan(upt_tensor *out, upt_tensor t);
int upt_atan(upt_tensor *out, upt_tensor t);
int upt_tanh(upt_tensor *out, upt_tensor t);
int upt_sigmoid(upt_tensor *out, upt_tensor t);
int upt_relu(upt_tensor *out, upt_tensor t);
int upt_silu(upt_tensor *out, upt_tensor t);
int upt_gelu(upt_tensor *out, upt_tensor t, const char *approximate);
int upt_leaky_relu(upt_tensor *out, upt_tensor t, double slope);
int upt_elu(upt_tensor *out, upt_tensor t, double alpha);
int upt_softplus(upt_tensor *out, upt_tensor t, double beta, double threshold);
int upt_erf(upt_tensor *out, upt_tensor t);
int upt_floor(upt_tensor *out, upt_tensor t);
int upt_ceil(upt_tensor *out, upt_tensor t);
int upt_round(upt_tensor *out, upt_tensor t);
int upt_trunc(upt_tensor *out, upt_tensor t);
int upt_sign(upt_tensor *out, upt_tensor t);
int upt_isnan(upt_tensor *out, upt_tensor t);
int upt_isinf(upt_tensor *out, upt_tensor t);
int upt_isfinite(upt_tensor *out, upt_tensor t);
int upt_logical_not(upt_tensor *out, upt_tensor t);
int upt_nan_to_num(upt_tensor *out, upt_tensor t, double nan, double posinf, double neginf);
int upt_softmax(upt_tensor *out, upt_tensor t, int64_t dim);
int upt_log_softmax(upt_tensor *out, upt_tensor t, int64_t dim);
/* has_min / has_max select which bounds apply. */
int upt_clamp(upt_tensor *out, upt_tensor t, bool has_min, upt_scalar min, bool has_max,
              upt_scalar max);
int upt_clamp_tensor(upt_tensor *out, upt_tensor t, upt_tensor min, upt_tensor max);
int upt_lerp(upt_tensor *out, upt_tensor a, upt_tensor b, upt_scalar weight);

/* ---- in place (optimizers, buffers) ------------------------------------------------------- */
int upt_add_(upt_tensor t, upt_tensor other, upt_scalar alpha);
int upt_mul_(upt_tensor t, upt_tensor other);
int upt_mul_scalar_(upt_tensor t, upt_scalar s);
int upt_div_(upt_tensor t, upt_tensor other);
int upt_addcmul_(upt_tensor t, upt_tensor a, upt_tensor b, upt_scalar value);
int upt_addcdiv_(upt_tensor t, upt_tensor a, upt_tensor b, upt_scalar value);
int upt_lerp_(upt_tensor t, upt_tensor end, upt_scalar weight);
int upt_copy_(upt_tensor dst, upt_tensor src);
int upt_zero_(upt_tensor t);
int upt_fill_(upt_tensor t, upt_scalar value);
int upt_clamp_(upt_tensor t, bool has_min, upt_scalar min, bool has_max, upt_scalar max);
int upt_uniform_(upt_tensor t, double from, double to, upt_generator g);
int upt_normal_(upt_tensor t, double mean, double std, upt_generator g);

/* ---- reductions --------------------------------------------------------------------------- */
/* dims NULL: over every element. dtype UPT_DTYPE_UNKNOWN: libtorch's default. */
int upt_sum(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool keepdim,
            upt_dtype dtype);
int upt_mean(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool keepdim,
             upt_dtype dtype);
int upt_prod(upt_tensor *out, upt_tensor t, bool has_dim, int64_t dim, bool keepdim);
int upt_amax(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool keepdim);
int upt_amin(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool keepdim);
int upt_max_dim(upt_tensor *values, upt_tensor *indices, upt_tensor t, int64_t dim, bool keepdim);
int upt_min_dim(upt_tensor *values, upt_tensor *indices, upt_tensor t, int64_t dim, bool keepdim);
int upt_argmax(upt_tensor *out, upt_tensor t, bool has_dim, int64_t dim, bool keepdim);
int upt_argmin(upt_tensor *out, upt_tensor t, bool has_dim, int64_t dim, bool keepdim);
int upt_std(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool unbiased,
            bool keepdim);
int upt_var(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool unbiased,
            bool keepdim);
/* q: a 0-d or 1-d tensor of probabilities. interpolation: "linear", "lower", "higher",
   "midpoint", "nearest". */
int upt_quantile(upt_tensor *out, upt_tensor t, upt_tensor q, bool has_dim, int64_t dim,
                 bool keepdim, const char *interpolation);
int upt_nanquantile(upt_tensor *out, upt_tensor t, upt_tensor q, bool has_dim, int64_t dim,
                    bool keepdim, const char *interpolation);
/* p: any real order (2 = Euclidean; INFINITY = max abs). */
int upt_norm(upt_tensor *out, upt_tensor t, double p, const int64_t *dims, int32_t n, bool keepdim);
int upt_logsumexp(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n, bool keepdim);
int upt_cumsum(upt_tensor *out, upt_tensor t, int64_t dim);
int upt_all(upt_tensor *out, upt_tensor t);
int upt_any(upt_tensor *out, upt_tensor t);
int upt_equal(upt_tensor a, upt_tensor b, bool *out);
int upt_allclose(upt_tensor a, upt_tensor b, double rtol, double atol, bool equal_nan, bool *out);

/* ---- linear algebra ----------------------------------------------------------------------- */
int upt_matmul(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_mm(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_bmm(upt_tensor *out, upt_tensor a, upt_tensor b);
int upt_einsum(upt_tensor *out, const char *equation, const upt_tensor *ts, int32_t n);
int upt_linalg_inv(upt_tensor *out, upt_tensor t);
int upt_linalg_det(upt_tensor *out, upt_tensor t);

/* ---- neural-network and image operations -------------------------------------------------- */
/* One entry for conv1d/2d/3d and their transposes (at::convolution). bias may be NULL. */
int upt_convolution(upt_tensor *out, upt_tensor input, upt_tensor weight, upt_tensor bias,
                    const int64_t *stride, const int64_t *padding, const int64_t *dilation,
                    int32_t spatial, bool transposed, const int64_t *output_padding,
                    int64_t groups);
int upt_linear(upt_tensor *out, upt_tensor input, upt_tensor weight, upt_tensor bias);
/* spatial: 2 or 3. */
int upt_max_pool(upt_tensor *out, upt_tensor t, int32_t spatial, const int64_t *kernel,
                 const int64_t *stride, const int64_t *padding, const int64_t *dilation,
                 bool ceil_mode);
int upt_avg_pool(upt_tensor *out, upt_tensor t, int32_t spatial, const int64_t *kernel,
                 const int64_t *stride, const int64_t *padding, bool ceil_mode,
                 bool count_include_pad);
int upt_adaptive_avg_pool(upt_tensor *out, upt_tensor t, int32_t spatial, const int64_t *size);
int upt_adaptive_max_pool(upt_tensor *out, upt_tensor t, int32_t spatial, const int64_t *size);
/* mode: "nearest", "linear", "bilinear", "bicubic", "trilinear". sizes or scales (the other
   NULL), one per spatial dimension. */
int upt_interpolate(upt_tensor *out, upt_tensor t, const char *mode, const int64_t *sizes,
                    const double *scales, int32_t spatial, bool align_corners);
/* mode 0 bilinear, 1 nearest, 2 bicubic; padding 0 zeros, 1 border, 2 reflection. */
int upt_grid_sample(upt_tensor *out, upt_tensor input, upt_tensor grid, int32_t mode,
                    int32_t padding_mode, bool align_corners);
int upt_affine_grid(upt_tensor *out, upt_tensor theta, const int64_t *size, int32_t n,
                    bool align_corners);
int upt_pixel_shuffle(upt_tensor *out, upt_tensor t, int64_t factor);
int upt_pixel_unshuffle(upt_tensor *out, upt_tensor t, int64_t factor);
/* torch.nn.functional.unfold / fold on 4-d input (im2col / col2im). */
int upt_im2col(upt_tensor *out, upt_tensor t, const int64_t *kernel, const int64_t *dilation,
               const int64_t *padding, const int64_t *stride);
int upt_col2im(upt_tensor *out, upt_tensor t, const int64_t *output_size, const int64_t *kernel,
               const int64_t *dilation, const int64_t *padding, const int64_t *stride);
int upt_dropout(upt_tensor *out, upt_tensor t, double p, bool train);
int upt_batch_norm(upt_tensor *out, upt_tensor input, upt_tensor weight, upt_tensor bias,
                   upt_tensor running_mean, upt_tensor running_var, bool training,
                   double momentum, double eps);
int upt_instance_norm(upt_tensor *out, upt_tensor input, upt_tensor weight, upt_tensor bias,
                      upt_tensor running_mean, upt_tensor running_var, bool use_input_stats,
                      double momentum, double eps);
int upt_group_norm(upt_tensor *out, upt_tensor input, int64_t groups, upt_tensor weight,
                   upt_tensor bias, double eps);
int upt_layer_norm(upt_tensor *out, upt_tensor input, const int64_t *shape, int32_t n,
                   upt_tensor weight, upt_tensor bias, double eps);
/* reduction: 0 none, 1 mean, 2 sum. */
int upt_l1_loss(upt_tensor *out, upt_tensor input, upt_tensor target, int32_t reduction);
int upt_mse_loss(upt_tensor *out, upt_tensor input, upt_tensor target, int32_t reduction);
int upt_bce_with_logits(upt_tensor *out, upt_tensor input, upt_tensor target, upt_tensor weight,
                        upt_tensor pos_weight, int32_t reduction);

/* ---- FFT and complex numbers -------------------------------------------------------------- */
/* s and dims may be NULL (all dimensions); norm: "backward", "forward", "ortho" or NULL. */
int upt_fft_fftn(upt_tensor *out, upt_tensor t, const int64_t *s, int32_t ns, const int64_t *dims,
                 int32_t nd, const char *norm);
int upt_fft_ifftn(upt_tensor *out, upt_tensor t, const int64_t *s, int32_t ns, const int64_t *dims,
                  int32_t nd, const char *norm);
int upt_fft_rfftn(upt_tensor *out, upt_tensor t, const int64_t *s, int32_t ns, const int64_t *dims,
                  int32_t nd, const char *norm);
int upt_fft_irfftn(upt_tensor *out, upt_tensor t, const int64_t *s, int32_t ns,
                   const int64_t *dims, int32_t nd, const char *norm);
int upt_fft_fftshift(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t nd);
int upt_fft_ifftshift(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t nd);
int upt_fft_fftfreq(upt_tensor *out, int64_t n, double d, upt_dtype dtype, upt_device dev);
int upt_real(upt_tensor *out, upt_tensor t);
int upt_imag(upt_tensor *out, upt_tensor t);
int upt_view_as_real(upt_tensor *out, upt_tensor t);
int upt_view_as_complex(upt_tensor *out, upt_tensor t);
int upt_complex(upt_tensor *out, upt_tensor real, upt_tensor imag);
int upt_polar(upt_tensor *out, upt_tensor abs, upt_tensor angle);
int upt_angle(upt_tensor *out, upt_tensor t);
int upt_conj(upt_tensor *out, upt_tensor t);

/* ---- autograd ----------------------------------------------------------------------------- */
int upt_ag_set_requires_grad(upt_tensor t, bool requires);
/* *out is NULL when the tensor has no gradient. */
int upt_ag_grad(upt_tensor *out, upt_tensor t);
int upt_ag_set_grad(upt_tensor t, upt_tensor grad);
int upt_ag_zero_grad(upt_tensor t, bool set_to_none);
int upt_ag_detach(upt_tensor *out, upt_tensor t);
int upt_ag_detach_(upt_tensor t);
/* gradient may be NULL for a scalar output. */
int upt_ag_backward(upt_tensor t, upt_tensor gradient, bool retain_graph, bool create_graph);
/* torch.autograd.grad; outputs' gradients (grad_outputs, NULL entries allowed, or NULL list)
   and one result per input (NULL where unused and allow_unused). */
int upt_ag_grad_of(upt_tensor *results, const upt_tensor *outputs, int32_t n_outputs,
                   const upt_tensor *inputs, int32_t n_inputs, const upt_tensor *grad_outputs,
                   bool retain_graph, bool create_graph, bool allow_unused);
bool upt_ag_is_grad_enabled(void);
void upt_ag_set_grad_enabled(bool enabled);

/* ---- distributed (c10d: TCPStore + ProcessGroupGloo) --------------------------------------- */
/* A process group of `world_size` processes meeting at a TCPStore on master_addr:master_port
   (rank 0 serves it and waits for every rank). The Gloo device binds to `device_name`:
   device_kind 0 libtorch's default device (this host's name, else loopback), 1 a hostname or
   address, 2 a network interface (eth0). timeout_ms bounds the rendezvous and every collective.
   external_store: the store is already served (torchrun's agent store), every rank is a client;
   store_prefix (NULL or "": none) namespaces the group's keys in it. Release with upt_dist_free. */
typedef struct upt_process_group_s *upt_process_group;
/* false when the shim was built without Gloo headers: then every upt_dist_ call fails. */
bool upt_dist_available(void);
int upt_dist_new(upt_process_group *out, const char *master_addr, int32_t master_port, int32_t rank,
                 int32_t world_size, int64_t timeout_ms, int32_t device_kind, const char *device_name,
                 bool external_store, const char *store_prefix);
void upt_dist_free(upt_process_group pg);
int32_t upt_dist_rank(upt_process_group pg);
int32_t upt_dist_world_size(upt_process_group pg);
/* In place on every tensor of the list: the sum over the ranks, divided by the world size when
   `average`. The tensors may differ in shape and dtype (they travel as one flat buffer per dtype);
   returns when the reduction is complete. */
int upt_dist_allreduce(upt_process_group pg, const upt_tensor *ts, int32_t n, bool average);
/* In place: every rank's tensors become rank `root`'s. */
int upt_dist_broadcast(upt_process_group pg, const upt_tensor *ts, int32_t n, int32_t root);
int upt_dist_barrier(upt_process_group pg);

#ifdef __cplusplus
}
#endif

#endif
