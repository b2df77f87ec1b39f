"""Subcommands of ``ebgan-edge`` that train, evaluate and export models.

``register`` only declares the commands; torch is imported when ``train`` or
``export`` runs, and ``evaluate`` never needs it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["register"]

_ATTACKS = ("dos", "probe", "r2l_u2r")


def _train_command(args) -> int:
    import torch

    from ebgan_edge.features import read_records
    from ebgan_edge.training.export import code_version, export_checkpoint
    from ebgan_edge.training.options import TrainOptions
    from ebgan_edge.training.plots import plot_curves, plot_scores
    from ebgan_edge.training.splits import file_sha256
    from ebgan_edge.training.trainer import train

    torch.set_num_threads(args.threads)
    options = TrainOptions(
        attack=args.attack,
        trainer=args.trainer,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        margin=args.margin,
        lambda_pt=args.lambda_pt,
        spectral_norm=args.spectral_norm,
        condition_on_attack=not args.noise_only,
        noise_dim=args.noise_dim,
        energy=args.energy,
        real_attack_fraction=args.real_attack_fraction,
        patience=args.patience,
        quantile=args.quantile,
        normalize_on=args.normalize_on,
        split_seed=args.split_seed,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = read_records(args.data)
    provenance = {
        "data_file": Path(args.data).name,
        "data_sha256": file_sha256(args.data),
        "code_version": code_version(),
        "torch_version": torch.__version__,
    }
    result = train(records, options, args.seed, provenance=provenance)

    checkpoint = out / "checkpoint.pt"
    result.save(checkpoint)
    (out / "run.json").write_text(
        json.dumps(result.run_info(), indent=2, sort_keys=True)
    )
    title = (
        f"{options.trainer}, {options.attack}, margin {options.margin}, "
        f"seed {args.seed}"
    )
    plot_curves(result.history, out / "curves.png", title)
    plot_scores(result.validation_scores, result.threshold, out / "scores.png", title)
    if args.export:
        export_checkpoint(checkpoint, args.export)

    print(f"checkpoint: {checkpoint} (epoch {result.best_epoch})")
    print(
        f"threshold: {result.threshold:.6g} (quantile {options.quantile} of "
        f"{result.calibration['rows']} held-out normal rows)"
    )
    for which, metrics in result.validation.items():
        print(
            f"validation, {which} types: ROC-AUC {metrics['roc_auc']:.4f}, "
            f"F1 top-fraction {metrics['top_fraction']['f1']:.4f}, "
            f"F1 threshold {metrics['threshold']['f1']:.4f} "
            f"(FPR {metrics['threshold']['false_positive_rate']:.4f})"
        )
    if args.export:
        print(f"model: {args.export}")
    return 0


def _export_command(args) -> int:
    from ebgan_edge.training.export import export_checkpoint

    metadata = export_checkpoint(
        args.checkpoint, args.out, args.precision, args.validate_on
    )
    print(f"{args.out}: {metadata['model_id']} ({args.precision})")
    return 0


def _evaluate_command(args) -> int:
    from ebgan_edge.training.evaluate import evaluate_model, format_report

    if args.top is not None and not 0.0 <= args.top <= 1.0:
        raise ValueError(f"--top must be within [0, 1], got {args.top}")
    result = evaluate_model(
        args.model, args.data, args.attack, args.top, args.rows, args.kernel
    )
    if args.json:
        json.dump(result, sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print(format_report(result))
    return 0


def _add_train(commands) -> None:
    from ebgan_edge.training.options import TrainOptions

    d = TrainOptions()

    p = commands.add_parser(
        "train",
        help="train a model on a labelled NSL-KDD file (needs torch)",
        description="Train an IDS-EBGAN discriminator (or a plain autoencoder), "
        "calibrate its threshold on held-out normal rows and validate it on "
        "held-out attack types. Defaults are the paper's setup.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", required=True, help="labelled NSL-KDD training file")
    p.add_argument(
        "--out",
        required=True,
        help="run directory: checkpoint.pt, run.json, curves.png, scores.png",
    )
    p.add_argument("--export", metavar="MODEL", help="also export the model file")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument(
        "--attack",
        choices=_ATTACKS,
        default=d.attack,
        help="attack family the generator disguises",
    )
    p.add_argument(
        "--trainer",
        choices=("ids-ebgan", "autoencoder"),
        default=d.trainer,
        help="autoencoder: normal rows only, no generator",
    )
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument(
        "--lr-schedule",
        choices=("constant", "cosine"),
        default=d.lr_schedule,
        help="cosine: anneal the learning rates to zero over the run",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=d.margin,
        help="hinge margin m on generated attacks' energy",
    )
    p.add_argument(
        "--lambda-pt",
        type=float,
        default=d.lambda_pt,
        help="weight of the pull-away term",
    )
    p.add_argument(
        "--no-spectral-norm",
        dest="spectral_norm",
        action="store_false",
        help="no spectral normalisation on the encoder",
    )
    p.add_argument(
        "--noise-only",
        action="store_true",
        help="feed the generator noise only, not the attack row",
    )
    p.add_argument("--noise-dim", type=int, default=d.noise_dim)
    p.add_argument(
        "--energy",
        choices=("mse", "l1"),
        default=d.energy,
        help="training reconstruction error (model files score MSE)",
    )
    p.add_argument(
        "--real-attack-fraction",
        type=float,
        default=d.real_attack_fraction,
        help="share of D's negatives that are unmodified real attacks",
    )
    p.add_argument(
        "--patience",
        type=int,
        default=d.patience,
        help="early stopping on held-out normal energy; 0 = off",
    )
    p.add_argument(
        "--quantile",
        type=float,
        default=d.quantile,
        help="threshold quantile of held-out normal scores",
    )
    p.add_argument(
        "--normalize-on",
        choices=("normal", "fit"),
        default=d.normalize_on,
        help="rows the min-max statistics are fitted on",
    )
    p.add_argument(
        "--split-seed",
        type=int,
        default=d.split_seed,
        help="seed of the fitting/calibration/validation splits",
    )
    p.set_defaults(run=_train_command)


def register(commands) -> None:
    """Add ``train``, ``evaluate`` and ``export`` to the ``ebgan-edge`` parser.

    Parameters
    ----------
    commands : argparse subparsers action
        What ``ArgumentParser.add_subparsers`` returned.
    """
    _add_train(commands)

    p = commands.add_parser(
        "evaluate",
        help="precision, recall, F1 and ROC-AUC of a model on labelled records",
        description="Evaluate on the normal rows plus the rows of one attack family, "
        "under two protocols: the top FRACTION of scores flagged (the paper's) "
        "and the threshold stored in the model (the deployable one).",
    )
    p.add_argument(
        "--model", default=None, help="model file (default: the shipped model)"
    )
    p.add_argument("--data", required=True, help="labelled NSL-KDD file")
    p.add_argument("--attack", choices=_ATTACKS, default="dos")
    p.add_argument(
        "--top",
        type=float,
        default=None,
        metavar="FRACTION",
        help="share flagged by the top-fraction protocol "
        "(default: the family's true share)",
    )
    p.add_argument(
        "--rows",
        default="all",
        choices=("all", "validation-unseen", "validation-seen"),
        help="all rows, or a validation set of the training file",
    )
    p.add_argument("--kernel", default=None, help="force a scoring kernel")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_evaluate_command)

    p = commands.add_parser(
        "export",
        help="write the model file of a training checkpoint (needs torch)",
        description="Turn a checkpoint of `ebgan-edge train` into a model file "
        "carrying its provenance.",
    )
    p.add_argument("checkpoint", help="checkpoint.pt, or the run directory holding it")
    p.add_argument("--out", required=True, help="model file to write")
    p.add_argument(
        "--precision",
        choices=("fp32", "fp16", "int8"),
        default="fp32",
        help="weight precision (fp16 and int8 are converted from the trained "
        "fp32 weights, as `ebgan-edge convert` does)",
    )
    p.add_argument(
        "--validate-on",
        metavar="DATA",
        help="the training file: recalibrates the threshold of an fp16 or int8 "
        "model and stores its comparison with fp32",
    )
    p.set_defaults(run=_export_command)
