"""Rigid registration with SimpleITK (PyPI) under upres register's settings, for bench/itk.

  registration_reference.py make FIXED MOVING TRUTH.json   a known rigid motion of FIXED (6, -5, 7 degrees
                                                            about its centre, 8, -6, 5 mm), resampled on
                                                            FIXED's grid; TRUTH holds fixedToMoving (RAS)
  registration_reference.py register FIXED MOVING OUT.json [--threads N]
      centre-of-mass start, Euler 3-D, Mattes MI (50 bins), 25% random sampling (seed 7), regular step
      gradient descent (learning rate 1, minimum step 1e-4, relaxation 0.5, 200 iterations per level),
      physical-shift scales, shrink 4/2/1 with smoothing 2/1/0 voxels; OUT holds fixedToMoving (RAS) and
      the time.
"""
import json
import math
import sys
import time

import numpy as np
import SimpleITK as sitk

FLIP = np.diag([-1.0, -1.0, 1.0, 1.0])


def to_ras(t):
    m = np.eye(4)
    m[:3, :3] = np.array(t.GetMatrix()).reshape(3, 3)
    c = np.array(t.GetCenter())
    m[:3, 3] = np.array(t.GetTranslation()) + c - m[:3, :3] @ c
    return FLIP @ m @ FLIP


def centre(image):
    size = image.GetSize()
    return image.TransformContinuousIndexToPhysicalPoint([(s - 1) / 2 for s in size])


if sys.argv[1] == "make":
    fixed = sitk.ReadImage(sys.argv[2], sitk.sitkFloat32)
    # The motion in RAS: rotations about x, y, z then a shift, about the centre (as the Swift test).
    a, b, g = (math.radians(v) for v in (6, -5, 7))
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    ry = np.array([[math.cos(b), 0, math.sin(b)], [0, 1, 0], [-math.sin(b), 0, math.cos(b)]])
    rz = np.array([[math.cos(g), -math.sin(g), 0], [math.sin(g), math.cos(g), 0], [0, 0, 1]])
    r = rz @ ry @ rx
    c_lps = np.array(centre(fixed))
    c = FLIP[:3, :3] @ c_lps
    truth = np.eye(4)
    truth[:3, :3] = r
    truth[:3, 3] = c + np.array([8, -6, 5]) - r @ c
    # The moving image shows the fixed anatomy at truth(q): moving(q') = fixed(truth^-1 q').
    inv_lps = FLIP @ np.linalg.inv(truth) @ FLIP
    t = sitk.AffineTransform(3)
    t.SetMatrix(inv_lps[:3, :3].ravel().tolist())
    t.SetTranslation(inv_lps[:3, 3].tolist())
    moving = sitk.Resample(fixed, fixed, t, sitk.sitkLinear, 0.0)
    sitk.WriteImage(moving, sys.argv[3])
    json.dump({"fixedToMoving": truth.tolist()}, open(sys.argv[4], "w"))
else:
    if "--threads" in sys.argv:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(sys.argv[sys.argv.index("--threads") + 1]))
    fixed = sitk.ReadImage(sys.argv[2], sitk.sitkFloat32)
    moving = sitk.ReadImage(sys.argv[3], sitk.sitkFloat32)
    start = time.perf_counter()
    init = sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.MOMENTS)
    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(50)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.25, 7)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-4, numberOfIterations=200, relaxationFactor=0.5,
                                                 gradientMagnitudeTolerance=1e-8, estimateLearningRate=reg.Once)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([4, 2, 1])
    reg.SetSmoothingSigmasPerLevel([2, 1, 0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    reg.SetInitialTransform(init, inPlace=True)
    reg.Execute(fixed, moving)
    seconds = time.perf_counter() - start
    json.dump({"fixedToMoving": to_ras(init).tolist(), "seconds": seconds, "metric": reg.GetMetricValue()}, open(sys.argv[4], "w"))
