"""Indexes upres's BIDS derivatives with pybids and prints each file's entities (and its Sources) as JSON.

usage: bids_entities.py RAW_DATASET DERIVATIVES
"""
import json
import sys

import bids

raw, derivatives = sys.argv[1], sys.argv[2]
layout = bids.BIDSLayout(raw, derivatives=derivatives, validate=False)
out = []
for f in layout.get(scope="derivatives", desc="upres", extension=".nii.gz"):
    e = {k: str(v) for k, v in f.get_entities().items()}
    e["Sources"] = ",".join(f.get_metadata().get("Sources", []))
    out.append(e)
print(json.dumps(out))
