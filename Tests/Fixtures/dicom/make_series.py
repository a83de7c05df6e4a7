"""Makes the DICOM test series from a real MR slice (pydicom's MR_small.dcm: a 64 x 64 TOSHIBA
MR image, 0.3125 mm pixels). Needs pydicom (PyPI); the output is committed.

Each series copies the real file's header and pixels (shifted per slice so that slices differ) and
sets ImagePositionPatient, ImageOrientationPatient, InstanceNumber and the UIDs:

axial/      12 axial slices, SliceThickness 5, positions 6 mm apart, files in shuffled order
oblique/    10 slices rotated 20 deg about x and 10 deg about z, SliceThickness 4, 5 mm apart
tilted/     8 slices whose positions also move 1 mm in-plane per slice (gantry tilt of ~9.5 deg)
uneven/     axial with one slice missing (a 12 mm gap)
mixed/      two series in one folder
"""
import copy
import math
import os
import random
import shutil

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

here = os.path.dirname(os.path.abspath(__file__))
source = pydicom.dcmread(get_testdata_file("MR_small.dcm"))


def rotation(ax, az):
    a, z = math.radians(ax), math.radians(az)
    rx = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    rz = np.array([[math.cos(z), -math.sin(z), 0], [math.sin(z), math.cos(z), 0], [0, 0, 1]])
    return rz @ rx


def series(folder, n, spacing, thickness, rot=np.eye(3), skip=(), inplane_shift=0.0, seed=0, description="upres test"):
    path = os.path.join(here, folder)
    os.makedirs(path, exist_ok=True)
    row, col = rot @ np.array([1.0, 0, 0]), rot @ np.array([0, 1.0, 0])
    normal = np.cross(row, col)
    origin = np.array([-10.0, -10.0, 20.0])
    uid = generate_uid(entropy_srcs=[folder, description])
    study = generate_uid(entropy_srcs=["upres study"])
    order = [k for k in range(n) if k not in skip]
    random.Random(seed).shuffle(order)
    for k in order:
        d = copy.deepcopy(source)
        pos = origin + normal * spacing * k + row * inplane_shift * k
        d.ImageOrientationPatient = [f"{v:.6f}" for v in list(row) + list(col)]
        d.ImagePositionPatient = [f"{v:.4f}" for v in pos]
        d.SliceLocation = f"{float(np.dot(pos, normal)):.4f}"
        d.SliceThickness = f"{thickness}"
        d.SpacingBetweenSlices = f"{spacing}"
        d.InstanceNumber = k + 1
        d.SeriesInstanceUID = uid
        d.StudyInstanceUID = study
        d.SeriesDescription = description
        d.SOPInstanceUID = generate_uid(entropy_srcs=[folder, description, str(k)])
        d.file_meta.MediaStorageSOPInstanceUID = d.SOPInstanceUID
        pixels = np.roll(d.pixel_array, 3 * k, axis=1)
        d.PixelData = pixels.astype(d.pixel_array.dtype).tobytes()
        d.save_as(os.path.join(path, f"IM{k:04d}_{description.replace(' ', '_')}.dcm"), enforce_file_format=True)


for f in ["axial", "oblique", "tilted", "uneven", "mixed"]:
    shutil.rmtree(os.path.join(here, f), ignore_errors=True)
series("axial", 12, 6.0, 5.0)
series("oblique", 10, 5.0, 4.0, rot=rotation(20, 10), seed=1)
series("tilted", 8, 6.0, 5.0, inplane_shift=1.0)
series("uneven", 12, 6.0, 5.0, skip=(5,))
series("mixed", 6, 6.0, 5.0, description="T1 thick")
series("mixed", 6, 3.0, 3.0, description="T2 thin")
