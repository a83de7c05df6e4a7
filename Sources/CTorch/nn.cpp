// Neural-network and image operations, FFTs and complex views.
#include "shim.h"

using upt::T;

namespace {
c10::optional<c10::string_view> opt_norm(const char *norm) {
  if (norm == nullptr) return c10::nullopt;
  return c10::string_view(norm);
}
void check_spatial(int32_t spatial, int32_t lo, int32_t hi, const char *op) {
  TORCH_CHECK(spatial >= lo && spatial <= hi, op, ": ", spatial,
              " spatial dimensions requested; supported: ", lo, " to ", hi);
}
}  // namespace

extern "C" {

int upt_convolution(upt_tensor *out, upt_tensor input, upt_tensor weight, upt_tensor bias,
                    const int64_t *stride, const int64_t *padding, const int64_t *dilation,
                    int32_t spatial, bool transposed, const int64_t *output_padding,
                    int64_t groups) {
  UPT_TRY({
    check_spatial(spatial, 1, 3, "convolution");
    std::vector<int64_t> zeros(static_cast<size_t>(spatial), 0);
    const int64_t *op = output_padding == nullptr ? zeros.data() : output_padding;
    *out = upt::wrap(at::convolution(T(input), T(weight), upt::opt(bias),
                                     upt::ints(stride, spatial), upt::ints(padding, spatial),
                                     upt::ints(dilation, spatial), transposed,
                                     upt::ints(op, spatial), groups));
  })
}
int upt_linear(upt_tensor *out, upt_tensor input, upt_tensor weight, upt_tensor bias) {
  UPT_OUT(at::linear(T(input), T(weight), upt::opt(bias)))
}
int upt_max_pool(upt_tensor *out, upt_tensor t, int32_t spatial, const int64_t *kernel,
                 const int64_t *stride, const int64_t *padding, const int64_t *dilation,
                 bool ceil_mode) {
  UPT_TRY({
    check_spatial(spatial, 1, 3, "max_pool");
    auto k = upt::ints(kernel, spatial), s = upt::ints(stride, spatial),
         p = upt::ints(padding, spatial), d = upt::ints(dilation, spatial);
    if (spatial == 1) *out = upt::wrap(at::max_pool1d(T(t), k, s, p, d, ceil_mode));
    else if (spatial == 2) *out = upt::wrap(at::max_pool2d(T(t), k, s, p, d, ceil_mode));
    else *out = upt::wrap(at::max_pool3d(T(t), k, s, p, d, ceil_mode));
  })
}
int upt_avg_pool(upt_tensor *out, upt_tensor t, int32_t spatial, const int64_t *kernel,
                 const int64_t *stride, const int64_t *padding, bool ceil_mode,
                 bool count_include_pad) {
  UPT_TRY({
    check_spatial(spatial, 1, 3, "avg_pool");
    auto k = upt::ints(kernel, spatial), s = upt::ints(stride, spatial),
         p = upt::ints(padding, spatial);
    if (spatial == 1)
      *out = upt::wrap(at::avg_pool1d(T(t), k, s, p, ceil_mode, count_include_pad));
    else if (spatial == 2)
      *out = upt::wrap(at::avg_pool2d(T(t), k, s, p, ceil_mode, count_include_pad));
    else
      *out = upt::wrap(at::avg_pool3d(T(t), k, s, p, ceil_mode, count_include_pad));
  })
}
int upt_adaptive_avg_pool(upt_tensor *out, upt_tensor t, int32_t spatial, const int64_t *size) {
  UPT_TRY({
    check_spatial(spatial, 1, 3, "adaptive_avg_pool");
    auto s = upt::ints(size, spatial);
    if (spatial == 1) *out = upt::wrap(at::adaptive_avg_pool1d(T(t), s));
    else if (spatial == 2) *out = upt::wrap(at::adaptive_avg_pool2d(T(t), s));
    else *out = upt::wrap(at::adaptive_avg_pool3d(T(t), s));
  })
}
int upt_adaptive_max_pool(upt_tensor *out, upt_tensor t, int32_t spatial, const int64_t *size) {
  UPT_TRY({
    check_spatial(spatial, 1, 3, "adaptive_max_pool");
    auto s = upt::ints(size, spatial);
    if (spatial == 1) *out = upt::wrap(std::get<0>(at::adaptive_max_pool1d(T(t), s)));
    else if (spatial == 2) *out = upt::wrap(std::get<0>(at::adaptive_max_pool2d(T(t), s)));
    else *out = upt::wrap(std::get<0>(at::adaptive_max_pool3d(T(t), s)));
  })
}
int upt_interpolate(upt_tensor *out, upt_tensor t, const char *mode, const int64_t *sizes,
                    const double *scales, int32_t spatial, bool align_corners) {
  UPT_TRY({
    check_spatial(spatial, 1, 3, "interpolate");
    const at::Tensor &x = T(t);
    TORCH_CHECK(x.dim() == spatial + 2, "interpolate: expected a ", spatial + 2,
                "-d input (batch, channels and ", spatial, " spatial dimensions), got ", x.dim(),
                "-d");
    TORCH_CHECK((sizes == nullptr) != (scales == nullptr),
                "interpolate: give either the output size or the scale factors");
    at::OptionalIntArrayRef osize = upt::opt_ints(sizes, spatial);
    c10::optional<at::ArrayRef<double>> sc;
    if (scales != nullptr) sc = at::ArrayRef<double>(scales, static_cast<size_t>(spatial));
    std::string m = mode == nullptr ? "nearest" : mode;
    if (m == "nearest") {
      TORCH_CHECK(!align_corners, "interpolate: align_corners applies to linear, bilinear, "
                                  "bicubic and trilinear modes only");
      if (spatial == 1) *out = upt::wrap(at::upsample_nearest1d(x, osize, sc));
      else if (spatial == 2) *out = upt::wrap(at::upsample_nearest2d(x, osize, sc));
      else *out = upt::wrap(at::upsample_nearest3d(x, osize, sc));
    } else if (m == "linear") {
      TORCH_CHECK(spatial == 1, "interpolate: mode 'linear' needs a 3-d input");
      *out = upt::wrap(at::upsample_linear1d(x, osize, align_corners, sc));
    } else if (m == "bilinear") {
      TORCH_CHECK(spatial == 2, "interpolate: mode 'bilinear' needs a 4-d input");
      *out = upt::wrap(at::upsample_bilinear2d(x, osize, align_corners, sc));
    } else if (m == "bicubic") {
      TORCH_CHECK(spatial == 2, "interpolate: mode 'bicubic' needs a 4-d input");
      *out = upt::wrap(at::upsample_bicubic2d(x, osize, align_corners, sc));
    } else if (m == "trilinear") {
      TORCH_CHECK(spatial == 3, "interpolate: mode 'trilinear' needs a 5-d input");
      *out = upt::wrap(at::upsample_trilinear3d(x, osize, align_corners, sc));
    } else {
      TORCH_CHECK(false, "interpolate: unknown mode '", m,
                  "'; expected nearest, linear, bilinear, bicubic or trilinear");
    }
  })
}
int upt_grid_sample(upt_tensor *out, upt_tensor input, upt_tensor grid, int32_t mode,
                    int32_t padding_mode, bool align_corners) {
  UPT_OUT(at::grid_sampler(T(input), T(grid), mode, padding_mode, align_corners))
}
int upt_affine_grid(upt_tensor *out, upt_tensor theta, const int64_t *size, int32_t n,
                    bool align_corners) {
  UPT_OUT(at::affine_grid_generator(T(theta), upt::ints(size, n), align_corners))
}
int upt_pixel_shuffle(upt_tensor *out, upt_tensor t, int64_t factor) {
  UPT_OUT(at::pixel_shuffle(T(t), factor))
}
int upt_pixel_unshuffle(upt_tensor *out, upt_tensor t, int64_t factor) {
  UPT_OUT(at::pixel_unshuffle(T(t), factor))
}
int upt_im2col(upt_tensor *out, upt_tensor t, const int64_t *kernel, const int64_t *dilation,
               const int64_t *padding, const int64_t *stride) {
  UPT_OUT(at::im2col(T(t), upt::ints(kernel, 2), upt::ints(dilation, 2), upt::ints(padding, 2),
                     upt::ints(stride, 2)))
}
int upt_col2im(upt_tensor *out, upt_tensor t, const int64_t *output_size, const int64_t *kernel,
               const int64_t *dilation, const int64_t *padding, const int64_t *stride) {
  UPT_OUT(at::col2im(T(t), upt::ints(output_size, 2), upt::ints(kernel, 2),
                     upt::ints(dilation, 2), upt::ints(padding, 2), upt::ints(stride, 2)))
}
int upt_dropout(upt_tensor *out, upt_tensor t, double p, bool train) {
  UPT_TRY({
    TORCH_CHECK(p >= 0.0 && p <= 1.0, "dropout: probability ", p, " outside [0, 1]");
    *out = upt::wrap(at::dropout(T(t), p, train));
  })
}
int upt_batch_norm(upt_tensor *out, upt_tensor input, upt_tensor weight, upt_tensor bias,
                   upt_tensor running_mean, upt_tensor running_var, bool training,
                   double momentum, double eps) {
  UPT_OUT(at::batch_norm(T(input), upt::opt(weight), upt::opt(bias), upt::opt(running_mean),
                         upt::opt(running_var), training, momentum, eps, false))
}
int upt_instance_norm(upt_tensor *out, upt_tensor input, upt_tensor weight, upt_tensor bias,
                      upt_tensor running_mean, upt_tensor running_var, bool use_input_stats,
                      double momentum, double eps) {
  UPT_OUT(at::instance_norm(T(input), upt::opt(weight), upt::opt(bias), upt::opt(running_mean),
                            upt::opt(running_var), use_input_stats, momentum, eps, false))
}
int upt_group_norm(upt_tensor *out, upt_tensor input, int64_t groups, upt_tensor weight,
                   upt_tensor bias, double eps) {
  UPT_OUT(at::group_norm(T(input), groups, upt::opt(weight), upt::opt(bias), eps, false))
}
int upt_layer_norm(upt_tensor *out, upt_tensor input, const int64_t *shape, int32_t n,
                   upt_tensor weight, upt_tensor bias, double eps) {
  UPT_OUT(at::layer_norm(T(input), upt::ints(shape, n), upt::opt(weight), upt::opt(bias), eps,
                         false))
}
int upt_l1_loss(upt_tensor *out, upt_tensor input, upt_tensor target, int32_t reduction) {
  UPT_OUT(at::l1_loss(T(input), T(target), reduction))
}
int upt_mse_loss(upt_tensor *out, upt_tensor input, upt_tensor target, int32_t reduction) {
  UPT_OUT(at::mse_loss(T(input), T(target), reduction))
}
int upt_bce_with_logits(upt_tensor *out, upt_tensor input, upt_tensor target, upt_tensor weight,
                        upt_tensor pos_weight, int32_t reduction) {
  UPT_OUT(at::binary_cross_entropy_with_logits(T(input), T(target), upt::opt(weight),
                                               upt::opt(pos_weight), reduction))
}

int upt_fft_fftn(upt_tensor *out, upt_tensor t, const int64_t *s, int32_t ns, const int64_t *dims,
                 int32_t nd, const char *norm) {
  UPT_OUT(at::fft_fftn(T(t), upt::opt_ints(s, ns), upt::opt_ints(dims, nd), opt_norm(norm)))
}
int upt_fft_ifftn(upt_tensor *out, upt_tensor t, const int64_t *s, int32_t ns,
                  const int64_t *dims, int32_t nd, const char *norm) {
  UPT_OUT(at::fft_ifftn(T(t), upt::opt_ints(s, ns), upt::opt_ints(dims, nd), opt_norm(norm)))
}
int upt_fft_rfftn(upt_tensor *out, upt_tensor t, const int64_t *s, int32_t ns,
                  const int64_t *dims, int32_t nd, const char *norm) {
  UPT_OUT(at::fft_rfftn(T(t), upt::opt_ints(s, ns), upt::opt_ints(dims, nd), opt_norm(norm)))
}
int upt_fft_irfftn(upt_tensor *out, upt_tensor t, const int64_t *s, int32_t ns,
                   const int64_t *dims, int32_t nd, const char *norm) {
  UPT_OUT(at::fft_irfftn(T(t), upt::opt_ints(s, ns), upt::opt_ints(dims, nd), opt_norm(norm)))
}
int upt_fft_fftshift(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t nd) {
  UPT_OUT(at::fft_fftshift(T(t), upt::opt_ints(dims, nd)))
}
int upt_fft_ifftshift(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t nd) {
  UPT_OUT(at::fft_ifftshift(T(t), upt::opt_ints(dims, nd)))
}
int upt_fft_fftfreq(upt_tensor *out, int64_t n, double d, upt_dtype dtype, upt_device dev) {
  UPT_OUT(at::fft_fftfreq(n, d, upt::options(dtype, dev)))
}
int upt_real(upt_tensor *out, upt_tensor t) { UPT_OUT(at::real(T(t))) }
int upt_imag(upt_tensor *out, upt_tensor t) { UPT_OUT(at::imag(T(t))) }
int upt_view_as_real(upt_tensor *out, upt_tensor t) { UPT_OUT(at::view_as_real(T(t))) }
int upt_view_as_complex(upt_tensor *out, upt_tensor t) { UPT_OUT(at::view_as_complex(T(t))) }
int upt_complex(upt_tensor *out, upt_tensor real, upt_tensor imag) {
  UPT_OUT(at::complex(T(real), T(imag)))
}
int upt_polar(upt_tensor *out, upt_tensor abs, upt_tensor angle) {
  UPT_OUT(at::polar(T(abs), T(angle)))
}
int upt_angle(upt_tensor *out, upt_tensor t) { UPT_OUT(at::angle(T(t))) }
int upt_conj(upt_tensor *out, upt_tensor t) { UPT_OUT(at::conj(T(t)).resolve_conj()) }

}  // extern "C"
