// Rigid and affine registration by Mattes mutual information (ITK's v4 framework).
#include "shim.h"

#include <itkAffineTransform.h>
#include <itkCenteredTransformInitializer.h>
#include <itkEuler3DTransform.h>
#include <itkImageMaskSpatialObject.h>
#include <itkImageRegistrationMethodv4.h>
#include <itkMattesMutualInformationImageToImageMetricv4.h>
#include <itkRegistrationParameterScalesFromPhysicalShift.h>
#include <itkRegularStepGradientDescentOptimizerv4.h>

#include <cmath>

namespace {
using namespace citk;
using Metric = itk::MattesMutualInformationImageToImageMetricv4<Image, Image>;
using Optimizer = itk::RegularStepGradientDescentOptimizerv4<double>;
using MaskObject = itk::ImageMaskSpatialObject<3>;

struct Outcome {
  double metric;
  int iterations;
};

// One multi-resolution run of `transform` (already initialised), in place.
template <typename T>
Outcome run(Image *fixed, Image *moving, T *transform, const citk_registration_settings &s, MaskObject *mask) {
  using Registration = itk::ImageRegistrationMethodv4<Image, Image, T>;
  auto metric = Metric::New();
  metric->SetNumberOfHistogramBins(static_cast<itk::SizeValueType>(s.bins));
  metric->SetUseMovingImageGradientFilter(false);
  metric->SetUseFixedImageGradientFilter(false);
  if (mask != nullptr) metric->SetFixedImageMask(mask);
  auto scales = itk::RegistrationParameterScalesFromPhysicalShift<Metric>::New();
  scales->SetMetric(metric);
  auto optimizer = Optimizer::New();
  optimizer->SetLearningRate(s.learning_rate);
  optimizer->SetMinimumStepLength(s.min_step);
  optimizer->SetRelaxationFactor(0.5);
  optimizer->SetGradientMagnitudeTolerance(1e-8);
  optimizer->SetNumberOfIterations(static_cast<itk::SizeValueType>(s.iterations));
  optimizer->SetScalesEstimator(scales);
  optimizer->SetDoEstimateLearningRateOnce(true);
  auto registration = Registration::New();
  registration->SetFixedImage(fixed);
  registration->SetMovingImage(moving);
  registration->SetMetric(metric);
  registration->SetOptimizer(optimizer);
  registration->SetInitialTransform(transform);
  registration->InPlaceOn();
  const unsigned int levels = static_cast<unsigned int>(s.levels);
  typename Registration::ShrinkFactorsArrayType shrink(levels);
  typename Registration::SmoothingSigmasArrayType sigmas(levels);
  for (unsigned int l = 0; l < levels; ++l) {
    shrink[l] = 1u << (levels - 1 - l);
    sigmas[l] = static_cast<double>(levels - 1 - l);
  }
  registration->SetNumberOfLevels(levels);
  registration->SetShrinkFactorsPerLevel(shrink);
  registration->SetSmoothingSigmasPerLevel(sigmas);
  registration->SetSmoothingSigmasAreSpecifiedInPhysicalUnits(false);
  registration->SetMetricSamplingStrategy(Registration::MetricSamplingStrategyType::RANDOM);
  registration->SetMetricSamplingPercentage(s.sampling);
  registration->MetricSamplingReinitializeSeed(s.seed);
  registration->Update();
  const double value = optimizer->GetValue();
  if (!std::isfinite(value)) throw std::runtime_error("the registration diverged (the metric is not finite)");
  return {value, static_cast<int>(optimizer->GetCurrentIteration())};
}

template <typename T>
void write_matrix(const T *t, double *out) {
  const auto m = t->GetMatrix();
  const auto o = t->GetOffset();
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) out[i * 4 + j] = m(i, j);
    out[i * 4 + 3] = o[i];
  }
  out[12] = out[13] = out[14] = 0;
  out[15] = 1;
}
}  // namespace

extern "C" int citk_register(const float *fixed, const citk_geometry *fg, const float *moving, const citk_geometry *mg,
                             const citk_registration_settings *s, double *fixed_to_moving, double *metric_value, int *iterations) {
  return citk::guarded([&] {
    if (s->levels < 1 || s->levels > 6) throw std::runtime_error("registration levels must be 1 to 6");
    if (!(s->sampling > 0 && s->sampling <= 1)) throw std::runtime_error("the sampling fraction must be in (0, 1]");
    auto f = make_image<float>(fixed, *fg);
    auto m = make_image<float>(moving, *mg);
    MaskObject::Pointer mask;
    if (s->fixed_mask != nullptr) {
      mask = MaskObject::New();
      mask->SetImage(make_image<uint8_t>(s->fixed_mask, *fg));
      mask->Update();
    }
    using Rigid = itk::Euler3DTransform<double>;
    auto rigid = Rigid::New();
    auto init = itk::CenteredTransformInitializer<Rigid, Image, Image>::New();
    init->SetTransform(rigid);
    init->SetFixedImage(f);
    init->SetMovingImage(m);
    init->MomentsOn();
    init->InitializeTransform();
    Outcome outcome = run<Rigid>(f, m, rigid.GetPointer(), *s, mask.GetPointer());
    if (s->affine) {
      using Affine = itk::AffineTransform<double, 3>;
      auto affine = Affine::New();
      affine->SetCenter(rigid->GetCenter());
      affine->SetMatrix(rigid->GetMatrix());
      affine->SetTranslation(rigid->GetTranslation());
      outcome = run<Affine>(f, m, affine.GetPointer(), *s, mask.GetPointer());
      write_matrix(affine.GetPointer(), fixed_to_moving);
    } else {
      write_matrix(rigid.GetPointer(), fixed_to_moving);
    }
    *metric_value = outcome.metric;
    *iterations = outcome.iterations;
  });
}
