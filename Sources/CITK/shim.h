// Shared by the CITK translation units: error capture and ITK image import/export.
#pragma once

#include "itk_compat.h"

#include "citk.h"

#include <itkImage.h>

#include <cstring>
#include <exception>
#include <string>

namespace citk {
using Image = itk::Image<float, 3>;
using Mask = itk::Image<unsigned char, 3>;

void set_error(const std::string &message);

// Runs `body`, turning every C++ exception into an error message and a non-zero return.
template <typename F>
int guarded(F &&body) {
  try {
    body();
    return 0;
  } catch (const itk::ExceptionObject &e) {
    set_error(e.GetDescription());
  } catch (const std::exception &e) {
    set_error(e.what());
  } catch (...) {
    set_error("unknown C++ exception");
  }
  return 1;
}

template <typename T>
typename itk::Image<T, 3>::Pointer make_image(const T *data, const citk_geometry &g) {
  using I = itk::Image<T, 3>;
  auto image = I::New();
  typename I::RegionType region;
  typename I::SizeType size;
  typename I::SpacingType spacing;
  typename I::PointType origin;
  typename I::DirectionType direction;
  for (int i = 0; i < 3; ++i) {
    if (g.size[i] < 1) throw std::runtime_error("image size must be positive along every axis");
    if (!(g.spacing[i] > 0)) throw std::runtime_error("voxel spacing must be positive along every axis");
    size[i] = static_cast<itk::SizeValueType>(g.size[i]);
    spacing[i] = g.spacing[i];
    origin[i] = g.origin[i];
    for (int j = 0; j < 3; ++j) direction(i, j) = g.direction[i * 3 + j];
  }
  region.SetSize(size);
  image->SetRegions(region);
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
  image->Allocate();
  const size_t n = static_cast<size_t>(g.size[0] * g.size[1] * g.size[2]);
  std::memcpy(image->GetBufferPointer(), data, n * sizeof(T));
  return image;
}

inline void geometry_of(const itk::ImageBase<3> *image, citk_geometry &g) {
  const auto size = image->GetLargestPossibleRegion().GetSize();
  for (int i = 0; i < 3; ++i) {
    g.size[i] = static_cast<int64_t>(size[i]);
    g.spacing[i] = image->GetSpacing()[i];
    g.origin[i] = image->GetOrigin()[i];
    for (int j = 0; j < 3; ++j) g.direction[i * 3 + j] = image->GetDirection()(i, j);
  }
}

inline size_t voxels(const citk_geometry &g) { return static_cast<size_t>(g.size[0] * g.size[1] * g.size[2]); }
}  // namespace citk
