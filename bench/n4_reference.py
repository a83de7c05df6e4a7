"""N4 bias field correction with SimpleITK (PyPI), as upres does it, for the oracle comparison.

The image (and mask) are shrunk by SHRINK, N4BiasFieldCorrectionImageFilter runs with the given
settings, and the log bias field is evaluated on the full grid (GetLogBiasFieldAsImage); the
corrected image is image / exp(log bias).

usage: n4_reference.py IN OUT [--mask M] [--shrink 4] [--iterations 50 50 50 50] [--log-bias F] [--time]
"""
import argparse
import time

import SimpleITK as sitk

p = argparse.ArgumentParser()
p.add_argument("input")
p.add_argument("output")
p.add_argument("--mask")
p.add_argument("--shrink", type=int, default=4)
p.add_argument("--iterations", type=int, nargs="+", default=[50, 50, 50, 50])
p.add_argument("--convergence", type=float, default=0.001)
p.add_argument("--control-points", type=int, default=4)
p.add_argument("--log-bias")
p.add_argument("--threads", type=int)
a = p.parse_args()

if a.threads:
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(a.threads)
image = sitk.ReadImage(a.input, sitk.sitkFloat32)
mask = sitk.ReadImage(a.mask, sitk.sitkUInt8) if a.mask else sitk.Image(image.GetSize(), sitk.sitkUInt8) + 1
if a.mask:
    mask = sitk.Cast(mask != 0, sitk.sitkUInt8)
    mask.CopyInformation(image)
else:
    mask.CopyInformation(image)
start = time.perf_counter()
small = sitk.Shrink(image, [a.shrink] * 3)
small_mask = sitk.Shrink(mask, [a.shrink] * 3)
n4 = sitk.N4BiasFieldCorrectionImageFilter()
n4.SetMaximumNumberOfIterations(a.iterations)
n4.SetConvergenceThreshold(a.convergence)
n4.SetNumberOfControlPoints([a.control_points] * 3)
n4.Execute(small, small_mask)
log_bias = n4.GetLogBiasFieldAsImage(image)
corrected = sitk.Cast(image / sitk.Exp(log_bias), sitk.sitkFloat32)
seconds = time.perf_counter() - start
sitk.WriteImage(corrected, a.output)
if a.log_bias:
    sitk.WriteImage(log_bias, a.log_bias)
print(f"simpleitk {sitk.Version.ITKVersionString()}: {seconds:.3f} s, {n4.GetElapsedIterations()} iterations at the last level")
