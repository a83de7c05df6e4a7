/*
 * citk.h — the C ABI over ITK 5 (Debian's libinsighttoolkit5-dev) used by upres: N4 bias field
 * correction, rigid/affine registration by Mattes mutual information, DICOM series through GDCM.
 *
 * Conventions (as ctorch.h):
 *  - Images are float32, 3-D, in ITK's memory order (x fastest), with their geometry in ITK's
 *    physical space (LPS): size, spacing, origin and direction (row-major 3x3, columns the axes).
 *    The caller converts from and to NIfTI's RAS; the shim knows nothing of it.
 *  - Every function returns 0 on success and non-zero on failure; then citk_last_error() holds
 *    ITK's message (one line). No C++ exception crosses this boundary.
 *  - Output buffers are allocated by the caller unless stated; buffers the shim allocates are
 *    released with citk_free.
 */
#ifndef UPRES_CITK_H
#define UPRES_CITK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int64_t size[3];
  double spacing[3];
  double origin[3];
  double direction[9];
} citk_geometry;

const char *citk_last_error(void);
void citk_free(void *p);
/* The ITK version the shim was built against ("5.2.1"). */
const char *citk_version(void);

/* N4 bias field correction (Tustison et al. 2010) with ITK's filter, run on the image shrunk by
 * `shrink` (and the mask with it); the log bias field is then evaluated from the fitted B-spline
 * lattice on the full grid, and corrected = image / exp(log_bias). `mask` may be NULL (every
 * voxel); otherwise non-zero voxels are used. `iterations` holds one count per fitting level.
 * Writes `corrected` and, when non-NULL, `log_bias` (both of the image's size). */
typedef struct {
  int shrink;
  const int *iterations;
  int levels;
  double convergence;
  int control_points;
  int spline_order;
  double bias_fwhm;
  double wiener_noise;
  int histogram_bins;
} citk_n4_settings;

int citk_n4(const float *image, const uint8_t *mask, const citk_geometry *geometry, const citk_n4_settings *settings,
            float *corrected, float *log_bias, int *elapsed_iterations, double *final_convergence);

/* Rigid (Euler 3-D, 6 parameters) or affine (12) registration of `moving` to `fixed`, ITK v4
 * framework: Mattes mutual information, regular step gradient descent, physical-shift scales, a
 * centre-of-mass initialisation, `levels` resolution levels (shrink 2^(levels-1) ... 1, smoothing
 * sigmas in voxels levels-1 ... 0), random sampling of `sampling` of the fixed voxels (seeded).
 * An affine run starts from the rigid result. Output: the 4x4 matrix (row-major, LPS) that maps a
 * point of the fixed image's space to the moving image's (ITK's transform direction), the final
 * metric value and the iterations of the last level. */
typedef struct {
  int affine;
  int levels;
  int iterations;
  int bins;
  double sampling;
  double learning_rate;
  double min_step;
  int seed;
  const uint8_t *fixed_mask;
} citk_registration_settings;

int citk_register(const float *fixed, const citk_geometry *fixed_geometry, const float *moving, const citk_geometry *moving_geometry,
                  const citk_registration_settings *settings, double *fixed_to_moving, double *metric, int *iterations);

/* DICOM: the series in a folder (GDCM's series UIDs, sorted; each with its number of files).
 * `*uids` is one buffer of NUL-separated strings and `*counts` an array, both released with
 * citk_free. */
int citk_dicom_series(const char *folder, char **uids, int64_t **counts, int *n);

/* Reads one series (sorted by position along the slice normal) as float32 (rescale applied).
 * `*data` is allocated by the shim (citk_free). `slice_thickness` is the SliceThickness tag
 * (0018,0050), 0 when absent; `tilt_degrees` the angle between the slice normal and the line of
 * the slice positions (gantry tilt; 0 for an orthogonal stack); `spacing_spread` the largest
 * difference between consecutive slice distances, in mm. `description` receives up to 255 bytes
 * of SeriesDescription, `modality` up to 15. */
int citk_dicom_read(const char *folder, const char *uid, float **data, citk_geometry *geometry, double *slice_thickness,
                    double *tilt_degrees, double *spacing_spread, char *description, char *modality);

#ifdef __cplusplus
}
#endif

#endif
