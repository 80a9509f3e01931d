"""``facerec train``: train or fine-tune an embedder with triplet loss on folder-per-person data."""

from __future__ import annotations

import click

from facerec.cli.common import QUIET, emit

__all__ = ["COMMAND", "train_command"]


def _people_option(value: str | None) -> list[str] | None:
    """``s1-s30`` style ranges or comma lists; None keeps everyone."""
    if not value:
        return None
    names: list[str] = []
    for part in value.split(","):
        part = part.strip()
        head, sep, tail = part.partition("-")
        prefix = head.rstrip("0123456789")
        if sep and tail.startswith(prefix) and head[len(prefix):].isdigit() and tail[len(prefix):].isdigit():
            names += [f"{prefix}{i}" for i in range(int(head[len(prefix):]), int(tail[len(prefix):]) + 1)]
        elif part:
            names.append(part)
    return names


@click.command("train")
@click.option("--data", "data_roots", multiple=True, required=True, type=click.Path(file_okay=False),
              help="Folder-per-person training root (root/Name/*.jpg); repeat to join several.")
@click.option("--people", default=None,
              help="Only these people of the first --data root: a comma list, ranges like s1-s30.")
@click.option("--exclude-pairs-fold", type=int, default=None,
              help="Leave out every person named in this fold (1-based) of --pairs (identity-disjoint test).")
@click.option("--max-per-person", type=int, default=None,
              help="Use at most this many photos of each training person (the first, by file name).")
@click.option("--pad", type=float, default=0.0, show_default=True,
              help="Pad photos by this fraction before detection (helps MTCNN on tight crops).")
@click.option("--fallback", type=click.Choice(["center", "whole"]), default="center", show_default=True,
              help="Crop used where no face is found: central template, or the whole photo (tight crops).")
@click.option("--detector", default=None,
              help="Face detector for the face cache (default: facerec's default; see `facerec models`).")
@click.option("--backbone", type=click.Choice(["mobilefacenet", "resnet18", "resnet50", "inception_resnet_v1"]),
              default="mobilefacenet", show_default=True, help="Network to train.")
@click.option("--random-init", is_flag=True, help="Start mobilefacenet from random weights, not the pretrained ones.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="Start from this weights file (a model.pt written by an earlier run).")
@click.option("--input-size", type=int, default=112, show_default=True,
              help="resnet18/50 only: the network's input side (crops are resized inside it).")
@click.option("--standardize", is_flag=True,
              help="resnet18/50 only: scale each image to zero mean, unit variance first (lighting invariance).")
@click.option("--epochs", type=int, default=5, show_default=True, help="Training epochs.")
@click.option("--p", "p", type=int, default=16, show_default=True, help="People per batch.")
@click.option("--k", "k", type=int, default=4, show_default=True, help="Photos per person per batch.")
@click.option("--batches", type=int, default=None, help="Batches per epoch (default: about one pass over the data).")
@click.option("--loss", type=click.Choice(["triplet", "contrastive"]), default="triplet", show_default=True,
              help="Loss: FaceNet triplet loss on mined triplets, or contrastive loss on all pairs.")
@click.option("--miner", type=click.Choice(["semihard", "hard", "all"]), default="semihard", show_default=True,
              help="Triplet mining inside each batch.")
@click.option("--margin", type=float, default=0.2, show_default=True, help="Triplet margin (squared L2).")
@click.option("--optimizer", type=click.Choice(["adam", "sgd"]), default="adam", show_default=True,
              help="Optimizer.")
@click.option("--lr", type=float, default=1e-3, show_default=True, help="Learning rate.")
@click.option("--weight-decay", type=float, default=5e-4, show_default=True, help="Weight decay.")
@click.option("--schedule", type=click.Choice(["cosine", "step", "constant"]), default="cosine", show_default=True,
              help="Learning-rate schedule over epochs.")
@click.option("--step-size", type=int, default=10, show_default=True, help="Epochs per step (--schedule step).")
@click.option("--freeze", multiple=True, help="Freeze parameters whose name starts with this prefix (repeatable).")
@click.option("--freeze-children", type=int, default=0, show_default=True,
              help="Freeze the first N top-level layers of the network.")
@click.option("--unfreeze-epoch", type=int, default=None, help="Make every layer trainable from this epoch on.")
@click.option("--no-augment", is_flag=True, help="Turn off flip / crop / brightness-contrast augmentation.")
@click.option("--strong-augment", is_flag=True,
              help="Heavier augmentation (crops to 75%, rotation up to 12 degrees, more contrast jitter).")
@click.option("--adversarial-eps", type=click.FloatRange(0, 255), default=0.0, show_default=True,
              help="Adversarial training: add PGD examples within this L-inf radius (pixel levels, 1/255) "
                   "to every batch; 0 turns it off.")
@click.option("--adversarial-steps", type=click.IntRange(1, 100), default=3, show_default=True,
              help="PGD steps per batch for --adversarial-eps.")
@click.option("--pairs", type=click.Path(dir_okay=False), default=None,
              help="Pairs file evaluated after every epoch (LFW pairs.txt format).")
@click.option("--pairs-root", type=click.Path(file_okay=False), default=None, help="Image root of --pairs.")
@click.option("--test-fold", type=int, default=None,
              help="Report accuracy on this fold (1-based) of --pairs with the threshold from the other folds.")
@click.option("--eval-every", type=int, default=1, show_default=True,
              help="Evaluate every N epochs (0: only after the last); the last epoch is always evaluated.")
@click.option("--no-eval-before", is_flag=True, help="Skip the evaluation of the untrained model (epoch 0).")
@click.option("--oneshot", type=click.Path(file_okay=False), default=None,
              help="Held-out folder-per-person root for one-shot identification after every epoch.")
@click.option("--oneshot-people", default=None, help="Only these people of --oneshot (as --people).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs/train", show_default=True,
              help="Output folder: model.pt, checkpoint.pt, metrics.csv/json, curves.png.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt (same settings).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where aligned crops are cached (default: the user cache, faces/).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when present), cpu or cuda.")
@click.option("--threads", type=int, default=None,
              help="CPU threads for torch (default: torch's choice; 1 is fastest on a busy machine).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@QUIET
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary at the end.")
def train_command(**options) -> None:
    """Train an embedder with triplet loss on P x K batches and write a checkpoint loadable with --weights.

    Example (fine-tune MobileFaceNet on LFW folds 1-4 people, test on fold 5):

    \b
        facerec train --data lfw/images --exclude-pairs-fold 5 --test-fold 5 \\
            --pairs pairs.txt --pairs-root lfw/images --epochs 3 --lr 2e-5
    """
    import torch

    from facerec.train.job import TrainData, run_training
    from facerec.train.trainer import TrainConfig

    if options["pairs"] and not options["pairs_root"]:
        raise click.BadParameter("--pairs needs --pairs-root", param_hint="--pairs-root")
    if options["exclude_pairs_fold"] is not None and not options["pairs"]:
        raise click.BadParameter("--exclude-pairs-fold needs --pairs", param_hint="--exclude-pairs-fold")
    config = TrainConfig(
        backbone=options["backbone"], out_dir=options["out_dir"], pretrained=not options["random_init"],
        weights=options["weights"], input_size=options["input_size"],
        standardize=options["standardize"], epochs=options["epochs"], p=options["p"],
        k=options["k"], batches_per_epoch=options["batches"], loss=options["loss"], miner=options["miner"],
        margin=options["margin"], optimizer=options["optimizer"], lr=options["lr"],
        weight_decay=options["weight_decay"], schedule=options["schedule"], step_size=options["step_size"],
        freeze=tuple(options["freeze"]), freeze_children=options["freeze_children"],
        unfreeze_epoch=options["unfreeze_epoch"], augment=not options["no_augment"],
        strong_augment=options["strong_augment"],
        eval_every=options["eval_every"], eval_before=not options["no_eval_before"], device=options["device"],
        seed=options["seed"], adversarial_eps=options["adversarial_eps"],
        adversarial_steps=options["adversarial_steps"],
    )
    people, oneshot_people = _people_option(options["people"]), _people_option(options["oneshot_people"])
    data = TrainData(
        roots=tuple(options["data_roots"]), people=tuple(people) if people else None,
        max_per_person=options["max_per_person"], exclude_pairs_fold=options["exclude_pairs_fold"],
        pairs=options["pairs"], pairs_root=options["pairs_root"], test_fold=options["test_fold"],
        oneshot=options["oneshot"], oneshot_people=tuple(oneshot_people) if oneshot_people else None,
        detector=options["detector"], pad=options["pad"], fallback=options["fallback"],
        cache_dir=options["cache_dir"])
    if options["threads"]:
        torch.set_num_threads(options["threads"])
    progress = not (options["quiet"] or options["as_json"])
    summary = run_training(config, data, resume=options["resume"], progress=progress,
                           log=lambda message: click.echo(message, err=True) if progress else None)
    if options["as_json"]:
        emit(summary)
    else:
        click.echo(f"wrote {summary['model']}; last epoch: {_readable(summary['after'])}")


def _readable(row: dict) -> str:
    """An epoch's record as ``key value`` pairs, numbers to 4 places."""
    return ", ".join(f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}"
                     for key, value in row.items())


COMMAND = train_command
