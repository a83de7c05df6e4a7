"""How anisotropic a head's anatomy is: the mean power spectrum of 128-voxel lines through the
head along each voxel axis (Hann window, mean removed, normalized to sum 1; lines whose mean is
above 0.1 of the p1-p99 range), and the ratio between axes in dB at a few frequencies, for
Colin 27 and MNI152 (both 1 mm, RAS). The slice-thickness estimator (upres's
SliceThicknessEstimator) assumes these ratios are 0 dB; they are the size of the signal it
measures, which is why it misses at 6 mm and across the sagittal axis (issue 14). Last, the aliased
power of a rectangular slice profile: flat for slices no thicker than their spacing.

    python3 bench/axis_spectra.py
"""
import nibabel as nib
import numpy as np

L = 128
FREQS = [5, 11, 17, 25, 33]  # bins: 0.047, 0.094, 0.14, 0.20, 0.27 cycles/mm


def spectra(path):
    x = nib.load(path).get_fdata().astype(np.float32)
    lo, hi = np.percentile(x, [1, 99])
    x = (x - lo) / (hi - lo)
    out = []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        lines = np.transpose(x, others + [axis])
        s = (lines.shape[2] - L) // 2
        lines = lines[:, :, s:s + L].reshape(-1, L)
        lines = lines[lines.mean(1) > 0.1]
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(L) + 0.5) / L)
        f = np.fft.rfft((lines - lines.mean(1, keepdims=True)) * hann, axis=1)
        p = (np.abs(f) ** 2).mean(0)[1:] + 1e-12
        out.append(p / p.sum())
    return out


heads = {"colin27": "data/samples/colin27/colin27_t1_1mm.nii.gz", "mni152": "data/samples/mni152/mni152_2009a_t1_1mm.nii.gz"}
names = ["L-R", "A-P", "S-I"]
spec = {h: spectra(p) for h, p in heads.items()}
print("power ratio between axes (dB) at", ", ".join(f"{(b + 1) / L:.3f}" for b in FREQS), "cycles/mm")
for t, a in [(2, 0), (2, 1), (0, 1), (0, 2), (1, 2)]:
    for h in heads:
        r = 10 * np.log10(spec[h][t] / spec[h][a])
        print(f"{names[t]} / {names[a]:4s} {h:8s}", " ".join(f"{r[b]:+5.1f}" for b in FREQS))

# What the slices themselves can say about their thickness: the power of a rectangular profile of
# thickness T, sampled every S = 6 mm, summed over its aliases, from w = 0 to the Nyquist frequency.
# For T <= S it is S / T at every w (flat: no trace of T where the anatomy's spectrum is flat), and
# only overlapping slices (T > S) shape it; the 5 mm against 6 mm difference is then all in the
# anatomy's slope, which the ratios above show to be 2 to 3.5 dB off between axes.
S = 6.0
m = np.arange(-4000, 4001)
print(f"aliased power of a rectangular profile, slices {S:g} mm apart, at w = 0 .. 1/(2S):")
for T in [3.0, 4.0, 5.0, 6.0, 7.0]:
    values = [float((np.sinc(T * (w + m / S)) ** 2).sum()) for w in np.linspace(0, 1 / (2 * S), 5)]
    print(f"T = {T:g} mm: " + " ".join(f"{v:.4f}" for v in values) + f"   (S / T = {S / T:.4f})")
