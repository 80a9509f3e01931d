"""Measure an embedder's activation ranges for int8 inference, and write its calibration file.

Aligned faces (the default pipeline) of every other AT&T photo (200 photos, all 40 people; not LFW
or Extended Yale B, on which the int8 model is evaluated) and their mirror images go through the
fp32 ONNX export; onnxruntime's percentile calibrator (99.999%) sets each activation's range. The
first convolution and the last two (the global depthwise and the linear layer) stay in float: on
LFW that keeps int8's embeddings nearer fp32's at little cost in speed. The file lands in
``facerec/models/embedders/calibration/<model>-<tag>.json``, tied to the weights' sha256.

    python scripts/calibrate_int8.py --shared ../shared
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import onnx

from facerec import FaceRecognizer
from facerec.gallery import IMAGE_SUFFIXES
from facerec.models.embedders.int8 import CALIBRATION_DIR, calibrate

PERCENTILE = 99.999


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=os.environ.get("FACEREC_SHARED", "../shared"))
    parser.add_argument("--model", default="mobilefacenet")
    args = parser.parse_args()
    os.environ.setdefault("FACEREC_WEIGHTS_DIR", str(Path(args.shared) / "weights"))
    root = Path(args.shared) / "data" / "att_faces"
    photos = sorted(p for p in root.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES)[::2]
    recognizer = FaceRecognizer(args.model, precision="fp32")
    crops = recognizer.align(photos, select="center", fallback=None).crops
    pixels = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), np.float32) / 255.0
    batches = [np.concatenate([b, b[..., ::-1]]) for b in np.array_split(pixels, max(1, len(pixels) // 50))]
    fp32 = Path(recognizer.embedder.path)  # type: ignore[union-attr]
    convs = [node.name for node in onnx.load(str(fp32)).graph.node if node.op_type == "Conv"]
    ranges = calibrate(fp32, batches, float_nodes=[convs[0], *convs[-2:]], percentile=PERCENTILE)
    weights = recognizer.weights
    out = CALIBRATION_DIR / f"{weights.model}-{weights.tag}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"weights_sha256": weights.sha256,
                               "photos": f"{len(photos)} AT&T photos (every other one, sorted) and their mirrors",
                               "command": "python scripts/calibrate_int8.py --shared ../shared", **ranges}, indent=1))
    print(f"{out}: ranges of {len(ranges['ranges']['data'])} tensors from {len(photos)} photos")


if __name__ == "__main__":
    main()
