// DICOM series through GDCM.
#include "shim.h"

#include <itkGDCMImageIO.h>
#include <itkGDCMSeriesFileNames.h>
#include <itkImageSeriesReader.h>
#include <itkMetaDataObject.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <vector>

namespace {
itk::GDCMSeriesFileNames::Pointer names_in(const char *folder) {
  auto names = itk::GDCMSeriesFileNames::New();
  names->SetUseSeriesDetails(false);
  names->SetDirectory(folder);
  return names;
}

std::vector<double> numbers(const std::string &text) {
  std::vector<double> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, '\\')) {
    char *end = nullptr;
    double v = std::strtod(item.c_str(), &end);
    if (end != item.c_str()) out.push_back(v);
  }
  return out;
}

std::string tag(const itk::MetaDataDictionary &d, const char *key) {
  std::string v;
  itk::ExposeMetaData<std::string>(d, key, v);
  auto end = v.find_last_not_of(" \0", std::string::npos, 2);
  return end == std::string::npos ? std::string() : v.substr(0, end + 1);
}

void copy(const std::string &s, char *out, size_t capacity) {
  if (out == nullptr) return;
  const size_t n = std::min(s.size(), capacity - 1);
  std::memcpy(out, s.data(), n);
  out[n] = 0;
}
}  // namespace

extern "C" int citk_dicom_series(const char *folder, char **uids, int64_t **counts, int *n) {
  return citk::guarded([&] {
    auto names = names_in(folder);
    const auto series = names->GetSeriesUIDs();
    std::string joined;
    auto *c = static_cast<int64_t *>(std::malloc(sizeof(int64_t) * std::max<size_t>(1, series.size())));
    if (c == nullptr) throw std::bad_alloc();
    for (size_t i = 0; i < series.size(); ++i) {
      joined += series[i];
      joined.push_back('\0');
      c[i] = static_cast<int64_t>(names->GetFileNames(series[i]).size());
    }
    auto *u = static_cast<char *>(std::malloc(joined.size() + 1));
    if (u == nullptr) {
      std::free(c);
      throw std::bad_alloc();
    }
    std::memcpy(u, joined.data(), joined.size());
    u[joined.size()] = 0;
    *uids = u;
    *counts = c;
    *n = static_cast<int>(series.size());
  });
}

extern "C" int citk_dicom_read(const char *folder, const char *uid, float **data, citk_geometry *geometry, double *slice_thickness,
                               double *tilt_degrees, double *spacing_spread, char *description, char *modality) {
  return citk::guarded([&] {
    using namespace citk;
    auto names = names_in(folder);
    const auto files = names->GetFileNames(uid);
    if (files.empty()) throw std::runtime_error(std::string("no DICOM files of series ") + uid);
    auto io = itk::GDCMImageIO::New();
    auto reader = itk::ImageSeriesReader<Image>::New();
    reader->SetImageIO(io);
    reader->SetFileNames(files);
    reader->SetMetaDataDictionaryArrayUpdate(true);
    reader->Update();
    Image::Pointer image = reader->GetOutput();
    geometry_of(image, *geometry);

    // Slice positions along the normal: the spacing and the gantry tilt come from them.
    const auto *dicts = reader->GetMetaDataDictionaryArray();
    const auto &first = *(*dicts)[0];
    const auto iop = numbers(tag(first, "0020|0037"));
    *tilt_degrees = 0;
    *spacing_spread = 0;
    if (iop.size() == 6 && dicts->size() > 1) {
      const double r[3] = {iop[0], iop[1], iop[2]}, c[3] = {iop[3], iop[4], iop[5]};
      double normal[3] = {r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]};
      std::vector<std::vector<double>> positions;
      for (const auto *d : *dicts) {
        auto p = numbers(tag(*d, "0020|0032"));
        if (p.size() != 3) throw std::runtime_error("a slice has no ImagePositionPatient (0020,0032)");
        positions.push_back(p);
      }
      std::vector<double> along;
      for (const auto &p : positions) along.push_back(p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2]);
      double lo = 1e300, hi = -1e300;
      for (size_t i = 1; i < along.size(); ++i) {
        const double d = std::abs(along[i] - along[i - 1]);
        lo = std::min(lo, d);
        hi = std::max(hi, d);
      }
      *spacing_spread = hi - lo;
      const auto &a = positions.front(), &b = positions.back();
      const double line[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
      const double len = std::sqrt(line[0] * line[0] + line[1] * line[1] + line[2] * line[2]);
      if (len > 0) {
        const double cosine = std::abs(line[0] * normal[0] + line[1] * normal[1] + line[2] * normal[2]) / len;
        *tilt_degrees = std::acos(std::min(1.0, cosine)) * 180.0 / M_PI;
      }
    }
    const auto thickness = numbers(tag(first, "0018|0050"));
    *slice_thickness = thickness.empty() ? 0 : thickness[0];
    copy(tag(first, "0008|103e"), description, 256);
    copy(tag(first, "0008|0060"), modality, 16);

    const size_t n = voxels(*geometry);
    auto *out = static_cast<float *>(std::malloc(n * sizeof(float)));
    if (out == nullptr) throw std::bad_alloc();
    std::memcpy(out, image->GetBufferPointer(), n * sizeof(float));
    *data = out;
  });
}
