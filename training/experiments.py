"""The results table: IDS-EBGAN, its ablations and the usual baselines over
several seeds, on the validation splits of the training file.

Regenerate docs/results.md with::

    python -m ebgan_edge.training.experiments \\
        --data KDDTrain+_20Percent.txt --out runs/experiments \\
        --markdown docs/results.md

Every (configuration, seed) result is appended to ``OUT/results.jsonl`` as
it finishes, and a rerun skips those already there, so an interrupted run
resumes. Each worker uses one torch thread.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np

from ebgan_edge.training.experiment_configs import CONFIGS, DESCRIPTIONS, QUANTILES

__all__ = ["CONFIGS", "QUANTILES", "markdown_table", "row_from_checkpoint", "run_one"]


def _metrics(scores_cal, scores_val: dict, splits) -> dict:
    from ebgan_edge.training.metrics import evaluate_scores

    threshold = float(np.quantile(scores_cal, 0.99))
    out = {}
    for which, scores in scores_val.items():
        _, is_attack = splits.validation(which)
        result = evaluate_scores(scores, is_attack, threshold)
        out[which] = {
            "roc_auc": result["roc_auc"],
            "f1_top": result["top_fraction"]["f1"],
            "f1_threshold": result["threshold"]["f1"],
            "fpr_threshold": result["threshold"]["false_positive_rate"],
        }
        for q in QUANTILES:
            t = float(np.quantile(scores_cal, q))
            out[which][f"f1_q{q}"] = evaluate_scores(scores, is_attack, t)["threshold"][
                "f1"
            ]
    return out


def run_one(data: str, name: str, seed: int, trace: bool = False) -> dict:
    """Train (or fit) one configuration with one seed and validate it.

    Parameters
    ----------
    data : str
        The labelled training file.
    name : str
        A key of :data:`CONFIGS`.
    seed : int
    trace : bool, default False
        Also record the validation ROC-AUC after every epoch (diagnostics
        only; no choice is made from it inside a run).

    Returns
    -------
    dict
        Metrics per validation set (``unseen``, ``seen``), CPU seconds and
        the epoch kept.
    """
    import torch

    from ebgan_edge.features import Normalization, encode, read_records
    from ebgan_edge.training.metrics import roc_auc
    from ebgan_edge.training.splits import make_splits

    torch.set_num_threads(1)
    kind, config = CONFIGS[name]
    records = read_records(data)
    start = time.process_time()
    result = {"config": name, "seed": seed}

    if kind == "torch":
        from ebgan_edge.training.options import TrainOptions
        from ebgan_edge.training.trainer import score_rows, train

        trace_rows = []

        def on_epoch(epoch, model, encoded, splits):
            entry = {"epoch": epoch}
            for which in ("unseen", "seen"):
                rows, is_attack = splits.validation(which)
                entry[which] = roc_auc(score_rows(model, encoded[rows]), is_attack)
            trace_rows.append(entry)

        trained = train(
            records,
            TrainOptions(**config),
            seed,
            progress=False,
            on_epoch=on_epoch if trace else None,
        )
        splits = trained.splits
        encoded = torch.from_numpy(encode(records, trained.normalization))
        scores_cal = score_rows(
            trained.discriminator, encoded[splits.normal_calibration]
        )
        scores_val = {
            which: score_rows(
                trained.discriminator, encoded[splits.validation(which)[0]]
            )
            for which in ("unseen", "seen")
        }
        result["best_epoch"] = trained.best_epoch
        if trace:
            result["trace"] = trace_rows
    else:
        import importlib

        splits = make_splits(records, "dos", 0)
        normalization = Normalization.fit(records.subset(splits.normal_fit))
        encoded = encode(records, normalization)
        module = importlib.import_module(f"pyod.models.{config['class'].lower()}")
        cls = getattr(module, config["class"])
        columns = np.arange(encoded.shape[1])
        if config.get("drop_constant"):
            # PyOD's PCA divides by every component's variance; constant
            # columns (and, by default, all components, including the zero
            # ones the one-hot blocks' linear dependence makes) give zeros.
            fit = encoded[splits.normal_fit]
            columns = np.flatnonzero(fit.max(axis=0) > fit.min(axis=0))
        encoded = encoded[:, columns]
        kwargs = dict(config.get("kwargs", {}))
        if config.get("random"):
            kwargs["random_state"] = seed
        detector = cls(**kwargs)
        detector.fit(encoded[splits.normal_fit])
        scores_cal = detector.decision_function(encoded[splits.normal_calibration])
        scores_val = {
            which: detector.decision_function(encoded[splits.validation(which)[0]])
            for which in ("unseen", "seen")
        }

    result.update(_metrics(scores_cal, scores_val, splits))
    result["sizes"] = {
        "normal": len(splits.normal_validation),
        "attack": {
            "unseen": len(splits.attack_unseen),
            "seen": len(splits.attack_seen),
        },
    }
    result["cpu_seconds"] = time.process_time() - start
    return result


def row_from_checkpoint(data: str, name: str, checkpoint: str) -> dict:
    """The result row of a run made with ``ebgan-edge train`` instead.

    Parameters
    ----------
    data : str
        The training file the run used.
    name : str
        The key of :data:`CONFIGS` the run's options match (checked).
    checkpoint : str
        Its ``checkpoint.pt``.
    """
    import torch

    from ebgan_edge.features import Normalization, encode, read_records
    from ebgan_edge.training.options import TrainOptions
    from ebgan_edge.training.splits import make_splits
    from ebgan_edge.training.trainer import load_checkpoint, score_rows

    model, run = load_checkpoint(checkpoint)
    expected = dataclasses.asdict(TrainOptions(**CONFIGS[name][1]))
    if run["options"] != expected:
        raise ValueError(f"{checkpoint} was not trained with the options of {name}")
    records = read_records(data)
    splits = make_splits(
        records, run["options"]["attack"], run["options"]["split_seed"]
    )
    normalization = Normalization(
        np.asarray(run["normalization"]["minimum"], np.float32),
        np.asarray(run["normalization"]["maximum"], np.float32),
    )
    encoded = torch.from_numpy(encode(records, normalization))
    scores_cal = score_rows(model, encoded[splits.normal_calibration])
    scores_val = {
        which: score_rows(model, encoded[splits.validation(which)[0]])
        for which in ("unseen", "seen")
    }
    result = {"config": name, "seed": run["seed"], "best_epoch": run["best_epoch"]}
    result.update(_metrics(scores_cal, scores_val, splits))
    result["sizes"] = {
        "normal": len(splits.normal_validation),
        "attack": {
            "unseen": len(splits.attack_unseen),
            "seen": len(splits.attack_seen),
        },
    }
    # Not measured by ebgan-edge train.
    result["cpu_seconds"] = float("nan")
    return result


def _worker(task):
    data, name, seed, trace = task
    return run_one(data, name, seed, trace)


def _combined_f1(row: dict, n_normal: int, attacks: dict) -> float:
    """F1 under the stored threshold on validation normals plus both attack sets.

    Both sets share the normal rows and the threshold, so their true and false
    positives add up: from F1 = 2 TP / (TP + FP + P), TP = F1 (FP + P) / (2 - F1).
    """
    fp = row["unseen"]["fpr_threshold"] * n_normal
    tp = 0.0
    for which, positives in attacks.items():
        f1 = row[which]["f1_threshold"]
        tp += f1 * (fp + positives) / (2 - f1)
    return 2 * tp / (tp + fp + sum(attacks.values()))


def _summarise(rows: list[dict]) -> dict:
    """Mean and standard deviation per configuration and metric."""
    by_config: dict[str, list[dict]] = {}
    for row in rows:
        by_config.setdefault(row["config"], []).append(row)
    summary = {}
    for name, runs in by_config.items():
        entry = {"seeds": sorted(r["seed"] for r in runs)}
        for which in ("unseen", "seen"):
            for key in runs[0][which]:
                values = np.array([r[which][key] for r in runs], dtype=float)
                entry[f"{which}.{key}"] = (values.mean(), values.std(ddof=0))
        combined = np.array(
            [_combined_f1(r, r["sizes"]["normal"], r["sizes"]["attack"]) for r in runs]
        )
        entry["all.f1_threshold"] = (combined.mean(), combined.std(ddof=0))
        cpu = np.array([r["cpu_seconds"] for r in runs])
        entry["cpu_seconds"] = (cpu.mean(), cpu.std())
        summary[name] = entry
    return summary


def _cpu(seconds: float) -> str:
    return "n/a" if np.isnan(seconds) else f"{seconds:.0f}"


def markdown_table(rows: list[dict], command: str, n_seeds: int) -> str:
    """docs/results.md: configurations run with every seed in the main table,
    the others (exploration with fewer seeds) in a second one."""
    summary = _summarise(rows)
    full = [n for n in CONFIGS if n in summary and len(summary[n]["seeds"]) >= n_seeds]
    partial = [n for n in CONFIGS if n in summary and n not in full]

    def cell(entry, key):
        mean, std = entry[key]
        return f"{mean:.3f} ± {std:.3f}"

    def table(names):
        out = [
            "| configuration | seeds | F1 top, unseen | F1 thr, unseen | ROC-AUC, "
            "unseen | F1 thr, seen | ROC-AUC, seen | F1 thr, all | FPR thr | CPU s |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name in names:
            e = summary[name]
            out.append(
                f"| {DESCRIPTIONS.get(name, name)} | {len(e['seeds'])} "
                f"| {cell(e, 'unseen.f1_top')} | {cell(e, 'unseen.f1_threshold')} "
                f"| {cell(e, 'unseen.roc_auc')} | {cell(e, 'seen.f1_threshold')} "
                f"| {cell(e, 'seen.roc_auc')} | {cell(e, 'all.f1_threshold')} "
                f"| {cell(e, 'unseen.fpr_threshold')} | {_cpu(e['cpu_seconds'][0])} |"
            )
        return out

    lines = [
        "# Results on the validation splits of the training file",
        "",
        "Generated by `training/experiments.py`; regenerate with:",
        "",
        "```",
        command,
        "```",
        "",
        "Attack family DoS. Mean ± standard deviation (population) over the "
        "training seeds; the data splits are the same for every run (split "
        "seed 0, see [training](training.md)). *Unseen*: the 2,690 validation "
        "normal rows plus every row of the DoS types never used in fitting "
        "(back, teardrop, pod, land: 423 rows). *Seen*: the same normal rows "
        "plus the held-out 20 % of neptune and smurf (1,762 rows). *All*: the "
        "normal rows and both attack sets. *F1 top*: the top share of scores "
        "flagged, that share being the true attack share (the paper's "
        "protocol). *F1 thr*: flagged above the 99th percentile of the scores "
        "of the 1,345 calibration normal rows (the deployable protocol, "
        "expected false-positive rate 1 %); *FPR thr* is the rate measured on "
        "the validation normals. *CPU s*: CPU seconds per run, one thread. "
        "PyOD detectors are fitted on the same normal fitting rows.",
        "",
        *table(full),
    ]
    if partial:
        lines += [
            "",
            "## Fewer seeds",
            "",
            "Configurations with fewer runs than the table above (the seeds "
            "column says how many): exploration, or runs the compute budget "
            "did not reach; indicative only. Runs made by `ebgan-edge train` "
            "and added with `--from-checkpoint` show no CPU time.",
            "",
            *table(partial),
        ]
    lines += [
        "",
        "## Threshold quantile",
        "",
        "Mean F1 under the stored-threshold protocol for other calibration "
        "quantiles (same runs; unseen / seen types).",
        "",
        "| configuration | " + " | ".join(f"q = {q}" for q in QUANTILES) + " |",
        "| --- |" + " --- |" * len(QUANTILES),
    ]
    for name in full + partial:
        e = summary[name]
        cells = [
            f"{e[f'unseen.f1_q{q}'][0]:.3f} / {e[f'seen.f1_q{q}'][0]:.3f}"
            for q in QUANTILES
        ]
        lines.append(f"| {DESCRIPTIONS.get(name, name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_BEGIN, _END = "<!-- tables: generated -->", "<!-- /tables -->"


def _write_tables(path: Path, tables: str) -> None:
    """Write the tables into ``path``, between the markers if it has them, so
    that the prose around them survives a regeneration."""
    block = f"{_BEGIN}\n{tables}{_END}\n"
    text = path.read_text() if path.exists() else ""
    if _BEGIN in text and _END in text:
        head, rest = text.split(_BEGIN, 1)
        tail = rest.split(_END, 1)[1].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = block + text
    path.write_text(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="labelled NSL-KDD training file")
    parser.add_argument("--out", required=True, help="directory of results.jsonl")
    parser.add_argument(
        "--configs", default=",".join(CONFIGS), help="comma-separated names of CONFIGS"
    )
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument(
        "--trace", action="store_true", help="record validation ROC-AUC per epoch"
    )
    parser.add_argument("--markdown", help="write the tables to this file")
    parser.add_argument(
        "--from-checkpoint",
        action="append",
        default=[],
        metavar="CONFIG=CHECKPOINT",
        help="add the result of a run made with `ebgan-edge train` instead",
    )
    args = parser.parse_args(argv)

    names = [n for n in args.configs.split(",") if n]
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configurations {unknown}; known: {sorted(CONFIGS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "results.jsonl"
    done = []
    if log.exists():
        done = [json.loads(line) for line in log.read_text().splitlines() if line]
    finished = {(r["config"], r["seed"]) for r in done}
    for item in args.from_checkpoint:
        name, _, checkpoint = item.partition("=")
        if name not in CONFIGS:
            parser.error(f"unknown configuration {name!r}")
        row = row_from_checkpoint(args.data, name, checkpoint)
        if (name, row["seed"]) not in finished:
            with open(log, "a") as f:
                f.write(json.dumps(row) + "\n")
            done.append(row)
            finished.add((name, row["seed"]))
    tasks = [
        (args.data, name, seed, args.trace)
        for name in names
        for seed in seeds
        if (name, seed) not in finished
    ]

    # Slow configurations first so the two workers finish together.
    tasks.sort(key=lambda t: -CONFIGS[t[1]][1].get("epochs", 20))
    if args.jobs > 1 and len(tasks) > 1:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(args.jobs)
        results = pool.imap_unordered(_worker, tasks)
    else:
        pool, results = None, map(_worker, tasks)
    with open(log, "a") as f:
        for row in results:
            f.write(json.dumps(row) + "\n")
            f.flush()
            done.append(row)
            print(
                f"{row['config']} seed {row['seed']}: unseen AUC "
                f"{row['unseen']['roc_auc']:.4f} "
                f"F1 thr {row['unseen']['f1_threshold']:.4f}"
                f", seen F1 thr {row['seen']['f1_threshold']:.4f} "
                f"({row['cpu_seconds']:.0f} s)",
                flush=True,
            )
    if pool is not None:
        pool.close()
        pool.join()

    if args.markdown:
        command = (
            "python -m ebgan_edge.training.experiments --data KDDTrain+_20Percent.txt "
            f"--out runs/experiments --seeds {args.seeds} --markdown {args.markdown}"
        )
        _write_tables(Path(args.markdown), markdown_table(done, command, len(seeds)))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
