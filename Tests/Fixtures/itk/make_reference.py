"""Makes the N4 oracle fixture (run from the repository root; needs upres built and SimpleITK from PyPI).

colin4_bias.nii.gz                Colin 27 at 4 mm with a +-40% bias field (upres simulate --bias 0.4 --seed 7)
colin4_brain.nii.gz               Colin 27's brain mask (ch2bet) on that grid (nearest)
colin4_bias_n4_simpleitk.nii.gz   SimpleITK's N4 of it inside the mask: shrink 2, 4 x 50 iterations,
                                  convergence 0.001, 4 control points (bench/n4_reference.py)
"""
import subprocess

U = ".build/debug/upres"
C = "data/samples/colin27/"
D = "Tests/Fixtures/itk/"
subprocess.run([U, "resample", C + "colin27_t1_1mm.nii.gz", "/tmp/colin4.nii.gz", "--spacing", "4", "--force"], check=True)
subprocess.run([U, "simulate", "/tmp/colin4.nii.gz", D + "colin4_bias.nii.gz", "--model", "slices", "--axis", "axial",
                "--thickness", "4", "--slice-spacing", "4", "--bias", "0.4", "--seed", "7", "--force"], check=True)
subprocess.run([U, "resample", C + "colin27_t1_1mm_brain.nii.gz", D + "colin4_brain.nii.gz", "--like", D + "colin4_bias.nii.gz",
                "--interp", "nearest", "--dtype", "uint8", "--force"], check=True)
subprocess.run(["python3", "bench/n4_reference.py", D + "colin4_bias.nii.gz", D + "colin4_bias_n4_simpleitk.nii.gz",
                "--mask", D + "colin4_brain.nii.gz", "--shrink", "2"], check=True)
