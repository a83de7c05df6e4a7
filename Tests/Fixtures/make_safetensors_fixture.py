"""Writes reference.safetensors with the reference implementation (PyPI `safetensors`, numpy API),
so upres's reader is checked against files it did not write itself.

Run once: `python3 -m pip install safetensors==0.8.0 numpy && python3 make_safetensors_fixture.py`.
The values are small and exact, so the Swift test states them literally.
"""
import numpy as np
import safetensors
from safetensors.numpy import save_file

tensors = {
    "body.0.conv1.weight": np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2) / 8,
    "body.0.conv1.bias": np.array([-1.5, 2.25], dtype=np.float64),
    "head.scale": np.array(0.5, dtype=np.float16),
    "steps": np.array([[1, -2, 3]], dtype=np.int64),
    "counts": np.array([7, -8], dtype=np.int32),
    "codes": np.array([0, 255, 17], dtype=np.uint8),
    "signed": np.array([-128, 127], dtype=np.int8),
    "short": np.array([-300, 300], dtype=np.int16),
    "mask": np.array([True, False, True]),
    "empty": np.zeros((0, 3), dtype=np.float32),
}
save_file(tensors, "reference.safetensors", metadata={"format": "pt", "model": "edsr"})
print("safetensors", safetensors.__version__, "numpy", np.__version__)
