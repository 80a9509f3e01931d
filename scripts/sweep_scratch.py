"""Choose the from-scratch training recipe on validation people, then train it once for the test.

Experiment 1 of the training issue: a ResNet-18 embedder trained with triplet loss on AT&T s1-s30
(plus the Yale B dev people), tested by one-shot identification on AT&T s31-s40. Choosing the
recipe by its s31-s40 score would report a tuned figure, so the choice is made on other people:

1. **validation**: every recipe trains on AT&T s1-s20 (+ Yale B where the recipe says so) and is
   scored on AT&T s21-s30, which it never sees; the recipes run side by side (``--parallel``);
2. **test**: each recipe also trains on s1-s30 and is scored on s31-s40 (side by side, to save
   time); the result is the test figure of the recipe whose validation rank-1, averaged over its
   last five evaluations (one evaluation is noisy: ten people), is best. The other test figures
   are written for the record, not used to choose.

Each run is a ``facerec train`` process, so every figure here comes from the command the README
shows. Written to ``OUT/``: one folder per run (metrics, curves) and ``sweep.json``.

    python scripts/sweep_scratch.py --att ../shared/data/att_faces --yale ../shared/data/yale_b_dev \\
        --epochs 150 --parallel 8 --out runs/sweep_scratch

A GPU (``--device cuda``) makes the sweep minutes; on 2 CPU cores give one or two recipes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

#: name -> extra ``facerec train`` options; every recipe is ResNet-18 with triplet loss.
RECIPES: dict[str, dict[str, object]] = {
    "base64": {"input-size": 64, "miner": "all", "margin": 0.2, "yale": True},
    "base64-att-only": {"input-size": 64, "miner": "all", "margin": 0.2, "yale": False},
    "base112": {"input-size": 112, "miner": "all", "margin": 0.2, "yale": True},
    "standardize64": {"input-size": 64, "miner": "all", "margin": 0.2, "standardize": True, "yale": True},
    "strong64": {"input-size": 64, "miner": "all", "margin": 0.2, "strong-augment": True, "yale": True},
    "strong-standardize64": {"input-size": 64, "miner": "all", "margin": 0.2, "strong-augment": True,
                             "standardize": True, "yale": True},
    "margin05-64": {"input-size": 64, "miner": "all", "margin": 0.5, "yale": True},
    "semihard64": {"input-size": 64, "miner": "semihard", "margin": 0.2, "yale": True},
    "semihard64-att-only": {"input-size": 64, "miner": "semihard", "margin": 0.2, "yale": False},
}


def command(recipe: dict[str, object], args: argparse.Namespace, train_people: str, test_people: str,
            out: Path, *, epochs: int | None = None, threads: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "facerec.cli", "train", "--data", args.att, "--people", train_people]
    if recipe["yale"]:
        cmd += ["--data", args.yale]
    epochs = args.epochs if epochs is None else epochs
    cmd += ["--pad", "0.5", "--fallback", "whole", "--backbone", "resnet18", "--epochs", str(epochs),
            "--batches", "15", "--p", "12", "--k", "4", "--oneshot", args.att, "--oneshot-people", test_people,
            "--eval-every", str(args.eval_every), "--device", args.device, "--threads", str(threads or args.threads),
            "--cache-dir", args.cache_dir, "--seed", str(args.seed), "--out", str(out), "--json"]
    for key, value in recipe.items():
        if value is True and key != "yale":
            cmd.append(f"--{key}")
        elif key != "yale":
            cmd += [f"--{key}", str(value)]
    return cmd


def run(name: str, cmd: list[str], out: Path) -> dict[str, object]:
    out.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    with (out / "log.txt").open("w") as log:
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - tic
    metrics = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() else []
    curve = [row.get("oneshot_rank1") for row in metrics if "oneshot_rank1" in row]
    row = {"recipe": name, "exit": code, "seconds": round(seconds, 1), "rank1_last": curve[-1] if curve else None,
           "rank1_last5_mean": sum(curve[-5:]) / len(curve[-5:]) if len(curve) > 1 else None,
           "rank1_untrained": curve[0] if curve else None, "rank1_best_epoch": max(curve) if curve else None,
           "command": " ".join(cmd)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--att", default="../shared/data/att_faces")
    parser.add_argument("--yale", default="../shared/data/yale_b_dev")
    parser.add_argument("--recipes", default=",".join(RECIPES), help="Comma-separated recipe names.")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default="runs/sweep_cache")
    parser.add_argument("--out", default="runs/sweep_scratch")
    parser.add_argument("--skip-test", action="store_true", help="Stop after the validation sweep.")
    args = parser.parse_args()
    names = [name.strip() for name in args.recipes.split(",") if name.strip()]
    unknown = [name for name in names if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe {unknown[0]!r}; known: {', '.join(RECIPES)}")
    out = Path(args.out)

    # align once per data selection before the runs start, so parallel runs share the cache
    for people, test in (("s1-s20", "s21-s30"), ("s1-s30", "s31-s40")):
        warm = command({**RECIPES[names[0]], "yale": True}, args, people, test, out / "align", epochs=0,
                       threads=os.cpu_count() or 1)
        subprocess.run(warm, stdout=subprocess.DEVNULL, check=False)

    jobs = {("validation", name): ("s1-s20", "s21-s30") for name in names}
    if not args.skip_test:  # test runs go side by side with validation; only the chosen one is the result
        jobs.update({("test", name): ("s1-s30", "s31-s40") for name in names})
    with ThreadPoolExecutor(max(1, args.parallel)) as pool:
        futures = {key: pool.submit(run, key[1], command(RECIPES[key[1]], args, *people, out / f"{key[0]}-{key[1]}"),
                                    out / f"{key[0]}-{key[1]}") for key, people in jobs.items()}
        rows = {key: future.result() for key, future in futures.items()}
    validation = [rows["validation", name] for name in names]
    done = [row for row in validation if row["rank1_last"] is not None]
    result: dict[str, object] = {"validation": validation}
    if done and not args.skip_test:
        name = str(max(done, key=lambda row: row["rank1_last5_mean"])["recipe"])
        result["chosen"] = name
        result["test"] = rows["test", name]
        result["test_of_every_recipe_not_used_for_the_choice"] = [rows["test", n] for n in names]
    (out / "sweep.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({"chosen": result.get("chosen"), "test": result.get("test")}, indent=2))


if __name__ == "__main__":
    main()
