"""Training speed of each backbone: images/s of triplet-loss steps (forward, mining, backward, step).

Real AT&T faces (whole photo as the crop, no detector), P x K batches, the trainer's own code path
for one short epoch per backbone. Run on a quiet machine: other jobs change the figure a lot.

    python scripts/train_speed.py --threads 2 --batches 5
    python scripts/train_speed.py --device cuda --batches 20
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch

from facerec.alignment import Alignment
from facerec.device import resolve_device
from facerec.train.data import load_face_folder
from facerec.train.trainer import TrainConfig, build_backbone, train

ATT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "att_faces"
#: (backbone, input side) as trained in the README experiments.
BACKBONES = (("mobilefacenet", 112), ("resnet18", 64), ("resnet18", 112), ("resnet50", 112),
             ("inception_resnet_v1", 160))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ATT), help="folder-per-person root")
    parser.add_argument("--batches", type=int, default=5, help="batches timed per backbone")
    parser.add_argument("--p", type=int, default=8, help="people per batch")
    parser.add_argument("--k", type=int, default=4, help="photos per person")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for backbone, size in BACKBONES:
        config = TrainConfig(backbone=backbone, pretrained=False, input_size=size, epochs=1, p=args.p,
                             k=args.k, batches_per_epoch=args.batches, miner="semihard", device=args.device)
        model = build_backbone(config)
        align = model.weights.alignment
        faces = load_face_folder(args.data, Alignment(align.size, align.method, align.template, align.margin),
                                 detect=False, fallback="whole")
        with tempfile.TemporaryDirectory() as out:
            warm = TrainConfig(**{**config.__dict__, "out_dir": out, "batches_per_epoch": 1})
            train(warm, model, faces, progress=False)  # first step pays for allocation and kernels
            history = train(TrainConfig(**{**config.__dict__, "out_dir": out + "/run"}), model, faces,
                            progress=False)
        rows.append({"backbone": backbone, "input": size, "device": str(resolve_device(args.device)),
                     "threads": torch.get_num_threads(), "batch": args.p * args.k,
                     "images_per_s": round(history[-1]["images_per_s"], 1)})
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
