// N4 bias field correction.
#include "shim.h"

#include <itkBSplineControlPointImageFilter.h>
#include <itkN4BiasFieldCorrectionImageFilter.h>
#include <itkShrinkImageFilter.h>

#include <cmath>

extern "C" int citk_n4(const float *image, const uint8_t *mask, const citk_geometry *geometry, const citk_n4_settings *s,
                       float *corrected, float *log_bias, int *elapsed_iterations, double *final_convergence) {
  return citk::guarded([&] {
    using namespace citk;
    if (s->levels < 1) throw std::runtime_error("N4 needs at least one fitting level");
    if (s->shrink < 1) throw std::runtime_error("the shrink factor must be at least 1");
    if (s->control_points <= s->spline_order) throw std::runtime_error("N4 needs more control points than the spline order");
    auto full = make_image<float>(image, *geometry);
    const size_t n = voxels(*geometry);
    Mask::Pointer m;
    if (mask != nullptr) {
      std::vector<uint8_t> binary(n);
      size_t inside = 0;
      for (size_t i = 0; i < n; ++i) inside += (binary[i] = mask[i] != 0 ? 1 : 0);
      if (inside == 0) throw std::runtime_error("the mask is empty");
      m = make_image<uint8_t>(binary.data(), *geometry);
    } else {
      std::vector<uint8_t> ones(n, 1);
      m = make_image<uint8_t>(ones.data(), *geometry);
    }
    auto shrinkImage = itk::ShrinkImageFilter<Image, Image>::New();
    shrinkImage->SetInput(full);
    shrinkImage->SetShrinkFactors(static_cast<unsigned int>(s->shrink));
    auto shrinkMask = itk::ShrinkImageFilter<Mask, Mask>::New();
    shrinkMask->SetInput(m);
    shrinkMask->SetShrinkFactors(static_cast<unsigned int>(s->shrink));

    using N4 = itk::N4BiasFieldCorrectionImageFilter<Image, Mask, Image>;
    auto f = N4::New();
    f->SetInput(shrinkImage->GetOutput());
    f->SetMaskImage(shrinkMask->GetOutput());
    f->SetMaskLabel(1);
    N4::VariableSizeArrayType iterations(static_cast<unsigned int>(s->levels));
    for (int i = 0; i < s->levels; ++i) iterations[i] = static_cast<unsigned int>(s->iterations[i]);
    f->SetMaximumNumberOfIterations(iterations);
    f->SetNumberOfFittingLevels(static_cast<unsigned int>(s->levels));
    f->SetConvergenceThreshold(s->convergence);
    f->SetSplineOrder(static_cast<unsigned int>(s->spline_order));
    N4::ArrayType points;
    points.Fill(static_cast<unsigned int>(s->control_points));
    f->SetNumberOfControlPoints(points);
    f->SetBiasFieldFullWidthAtHalfMaximum(s->bias_fwhm);
    f->SetWienerFilterNoise(s->wiener_noise);
    f->SetNumberOfHistogramBins(static_cast<unsigned int>(s->histogram_bins));
    f->Update();

    // The log bias field on the full grid, from the fitted lattice (as SimpleITK's GetLogBiasFieldAsImage).
    using Lattice = N4::BiasFieldControlPointLatticeType;
    using Field = N4::ScalarImageType;
    auto bspline = itk::BSplineControlPointImageFilter<Lattice, Field>::New();
    bspline->SetInput(f->GetLogBiasFieldControlPointLattice());
    bspline->SetSplineOrder(static_cast<unsigned int>(s->spline_order));
    bspline->SetSize(full->GetLargestPossibleRegion().GetSize());
    bspline->SetOrigin(full->GetOrigin());
    bspline->SetSpacing(full->GetSpacing());
    bspline->SetDirection(full->GetDirection());
    bspline->Update();
    const auto *field = bspline->GetOutput()->GetBufferPointer();
    const float *in = full->GetBufferPointer();
    for (size_t i = 0; i < n; ++i) {
      const float lb = field[i][0];
      if (log_bias != nullptr) log_bias[i] = lb;
      corrected[i] = in[i] / std::exp(lb);
    }
    if (elapsed_iterations != nullptr) *elapsed_iterations = static_cast<int>(f->GetElapsedIterations());
    if (final_convergence != nullptr) *final_convergence = f->GetCurrentConvergenceMeasurement();
  });
}
