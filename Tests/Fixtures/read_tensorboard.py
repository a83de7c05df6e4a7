"""Reads a TensorBoard log folder with TensorBoard's own loader (the one `tensorboard --logdir`
uses) and prints its scalars and images as JSON, for the training tests:
    {"scalars": {tag: [[step, value], ...]}, "images": {tag: [[step, width, height, png_bytes], ...]}}
"""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "images": 0})
acc.Reload()
tags = acc.Tags()
out = {
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "images": {t: [[e.step, e.width, e.height, len(e.encoded_image_string)] for e in acc.Images(t)] for t in tags["images"]},
}
json.dump(out, sys.stdout)
