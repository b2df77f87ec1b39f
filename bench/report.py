"""Turn the interleaved runner's JSON into Markdown tables and a latency plot.

    python bench/report.py build/bench/interleaved.json \\
        --plot docs/figures/bench_latency.png --update-doc docs/benchmarks.md

Without ``--update-doc`` the Markdown goes to standard output. With it, the
text between the ``<!-- results:begin -->`` and ``<!-- results:end -->``
markers of that file is replaced, and everything else in it is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
BASELINE = "torch-eager"


def fmt_us(us: float) -> str:
    if us >= 1e4:
        return f"{us / 1e3:,.1f} ms"
    return f"{us:,.1f} µs" if us < 100 else f"{us:,.0f} µs"


def fmt_rate(rate: float) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if rate >= scale:
            return f"{rate / scale:,.3g}{unit}"
    return f"{rate:,.3g}"


PRECISION_ORDER = ("fp32", "fp16", "int8")
EBGAN_PREFIX = "ebgan-edge-"
LITERT_INT8 = "litert-int8"


def precision_of(record: dict, name: str) -> str:
    return record.get("backends", {}).get(name, {}).get("precision", "?")


def workload_of(cell: dict) -> str:
    """The cell's inputs: "encoded" batches, or parsed "records" (records
    before schema 3 are all encoded)."""
    return cell.get("workload", "encoded")


def backend_order(record: dict, workload: str = "encoded") -> list[str]:
    """Backends of one workload grouped by the precision of their weights
    (fp32, fp16, int8), in the order the runner listed them within a group,
    so that every int8 runtime sits next to the others."""
    seen: list[str] = []
    for cell in record["cells"]:
        if workload_of(cell) != workload:
            continue
        for name in cell["results"]:
            if name not in seen:
                seen.append(name)

    def rank(name: str) -> int:
        precision = precision_of(record, name)
        if precision in PRECISION_ORDER:
            return PRECISION_ORDER.index(precision)
        return len(PRECISION_ORDER)

    return sorted(seen, key=rank)


def cells_by(
    record: dict, condition: str, workload: str = "encoded"
) -> dict[tuple[int, int], dict]:
    return {
        (c["rows"], c["threads"]): c
        for c in record["cells"]
        if c["condition"] == condition and workload_of(c) == workload
    }


def rows_label(rows: int) -> str:
    return f"{rows:,} row{'s' if rows > 1 else ''}"


def threads_label(threads: int) -> str:
    return f"{threads} thread{'s' if threads > 1 else ''}"


def latency_tables(
    cells: dict,
    names: list[str],
    threads: int,
    title: str,
    baseline: str,
    row_label,
) -> list[str]:
    """Two tables for one thread count: median time per call (p10), then rows
    per second at the median with the speed relative to ``baseline``.
    ``row_label(name)`` gives a backend's first two columns."""
    rows_list = sorted({r for r, _ in cells})
    header = "| backend | weights | " + " | ".join(map(rows_label, rows_list)) + " |"
    rule = "| --- | --- |" + " ---: |" * len(rows_list)

    def table(heading: str, cell) -> list[str]:
        lines = [f"#### {title}: {heading}", "", header, rule]
        for name in names:
            row = []
            for r in rows_list:
                results = cells.get((r, threads), {}).get("results", {})
                res = results.get(name)
                row.append(cell(res, results.get(baseline)) if res else "–")
            lines.append(f"| {row_label(name)} | " + " | ".join(row) + " |")
        return lines

    def latency(res, _):
        return f"{fmt_us(res['median_us'])} ({fmt_us(res['p10_us'])})"

    def rate(res, base):
        ratio = f" ({base['median_us'] / res['median_us']:.2f}×)" if base else ""
        return fmt_rate(res["rows_per_s"]) + ratio

    return [
        *table("median time per call (p10)", latency),
        "",
        *table(f"rows per second at the median (speed relative to {baseline})", rate),
    ]


def grid_tables(record: dict) -> list[str]:
    cells = cells_by(record, "as found")
    rows_list = sorted({r for r, _ in cells})
    names = backend_order(record)

    def row_label(name: str) -> str:
        return f"{name} | {precision_of(record, name)}"

    lines = []
    for threads in sorted({t for _, t in cells}):
        lines += latency_tables(
            cells, names, threads, threads_label(threads), BASELINE, row_label
        )
        lines += ["", *int8_against_litert(record, cells, threads, rows_list)]
    return lines


def int8_against_litert(
    record: dict, cells: dict, threads: int, rows_list: list[int]
) -> list[str]:
    """A line comparing ebgan-edge's fastest int8 kernel with LiteRT's int8
    model, as a ratio of rows per second, 4,096 rows first."""
    ratios = {}
    for rows in rows_list:
        results = cells.get((rows, threads), {}).get("results", {})
        ours = {
            n: r
            for n, r in results.items()
            if n.startswith(EBGAN_PREFIX) and precision_of(record, n) == "int8"
        }
        if not ours or LITERT_INT8 not in results:
            continue
        best = max(ours, key=lambda n: ours[n]["rows_per_s"])
        ratios[rows] = (best, ours[best], results[LITERT_INT8])
    if not ratios:
        return []
    first = 4096 if 4096 in ratios else max(ratios)
    best, ours, theirs = ratios[first]
    others = ", ".join(
        f"{r:,} row{'s' if r > 1 else ''} {o['rows_per_s'] / t['rows_per_s']:.2f}× "
        f"({n})"
        for r, (n, o, t) in ratios.items()
        if r != first
    )
    return [
        f"ebgan-edge's fastest int8 kernel against {LITERT_INT8}, rows per second "
        f"at the median, {threads} thread{'s' if threads > 1 else ''}: "
        f"**{first:,} rows: {ours['rows_per_s'] / theirs['rows_per_s']:.2f}×** "
        f"({best} {fmt_rate(ours['rows_per_s'])}, {LITERT_INT8} "
        f"{fmt_rate(theirs['rows_per_s'])})" + (f"; {others}." if others else "."),
        "",
    ]


RECORD_BASELINE = "encode+run:torch-eager"


def record_tables(record: dict) -> list[str]:
    """The record workload: per thread count, time per call and rows per
    second from parsed records to scores, then the ratio of score_records'
    time to the dense path's (encode() + score() on the same scorer),
    measured in the same cells."""
    cells = cells_by(record, "as found", "records")
    if not cells:
        return []
    rows_list = sorted({r for r, _ in cells})
    names = backend_order(record, "records")
    backends = record.get("backends", {})

    def row_label(name: str) -> str:
        kernel = backends.get(name, {}).get("details", {}).get("kernel")
        shown = f"{name} ({kernel})" if kernel else name
        return f"{shown} | {precision_of(record, name)}"

    lines = [
        "### From parsed records",
        "",
        "Inputs are the same rows as parsed `Records`; every backend turns "
        "them into scores. `score_records` runs the record kernels, "
        "`encode+score` calls `encode()` then `score()` on the same scorer "
        "(automatic kernel, in brackets), `encode+run` calls `encode()` then "
        "another runtime.",
        "",
    ]
    for threads in sorted({t for _, t in cells}):
        title = f"Records, {threads_label(threads)}"
        lines += latency_tables(
            cells, names, threads, title, RECORD_BASELINE, row_label
        )
        lines += ["", *dense_ratio_table(cells, threads, rows_list)]
    return lines


def dense_ratio_table(cells: dict, threads: int, rows_list: list[int]) -> list[str]:
    """score_records' time over encode+score's, per precision and batch size:
    the ratio of the two medians, and the median (p10–p90) of the ratios of
    the two bursts of each round."""
    precisions = [
        p
        for p in PRECISION_ORDER
        if any(p in c.get("dense_ratios", {}) for c in cells.values())
    ]
    if not precisions:
        return []
    lines = [
        f"#### Records, {threads_label(threads)}: time of score_records ÷ time of "
        "encode+score (below 1: score_records is faster)",
        "",
        "Ratio of the medians; in brackets the median (p10–p90) of the ratios "
        "taken round by round, each from the two bursts of one round.",
        "",
        "| weights | " + " | ".join(map(rows_label, rows_list)) + " |",
        "| --- |" + " ---: |" * len(rows_list),
    ]
    for precision in precisions:
        row = []
        for r in rows_list:
            ratio = cells.get((r, threads), {}).get("dense_ratios", {}).get(precision)
            if not ratio:
                row.append("–")
                continue
            per_round = ratio["per_round"]
            row.append(
                f"{ratio['of_medians']:.2f} ({per_round['median']:.2f}, "
                f"{per_round['p10']:.2f}–{per_round['p90']:.2f})"
            )
        lines.append(f"| {precision} | " + " | ".join(row) + " |")
    return [*lines, ""]


def contention_table(record: dict) -> list[str]:
    busy = cells_by(record, "one core busy")
    if not busy:
        return []
    idle = cells_by(record, "as found")
    lines = [
        "#### 16-row batches with one core kept busy by another process",
        "",
        "| backend | threads | as found: median (p10) | one core busy: median (p10) "
        "| slowdown |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for (rows, threads), cell in sorted(busy.items()):
        for name, res in cell["results"].items():
            base = idle.get((rows, threads), {}).get("results", {}).get(name)
            before = (
                f"{fmt_us(base['median_us'])} ({fmt_us(base['p10_us'])})"
                if base
                else "–"
            )
            slowdown = f"{res['median_us'] / base['median_us']:.2f}×" if base else "–"
            lines.append(
                f"| {name} | {threads} | {before} | {fmt_us(res['median_us'])} "
                f"({fmt_us(res['p10_us'])}) | {slowdown} |"
            )
    return [*lines, ""]


def context_lines(record: dict) -> list[str]:
    m = record["machine"]
    pk = m["packages"]
    versions = ", ".join(
        f"{k} {v}"
        for k, v in pk.items()
        if v and k not in ("threadpoolctl", "pytest-benchmark")
    )
    tfl = m.get("tflite_export") or {}
    if tfl.get("litert-torch"):
        versions += f", litert-torch {tfl['litert-torch']} (export only)"
    src = record["inputs"]
    inputs = (
        f"{src['rows']:,} shuffled rows (seed {src['shuffle_seed']}) of "
        f"`{src['name']}` (sha256 `{src['sha256'][:12]}…`)"
        if src["kind"] == "file"
        else f"{src['rows']:,} generated records (seed {src['seed']})"
    )
    cells = [c for c in record["cells"] if c["condition"] == "as found"]
    loads = [c["load_average_before"][0] for c in record["cells"]] or [0.0]
    by_workload = ", ".join(
        f"{sum(workload_of(c) == w for c in cells)} {w}"
        for w in ("encoded", "records")
        if any(workload_of(c) == w for c in cells)
    )
    ebgan = m["ebgan_edge"]
    by_precision = ebgan.get("kernels_by_precision")
    if not by_precision:  # a record from before kernels were listed by precision
        by_precision = {}
        for name in backend_order(record):
            if name.startswith(EBGAN_PREFIX):
                kernel = name[name.index("[") + 1 : -1]
                by_precision.setdefault(precision_of(record, name), []).append(kernel)
    kernels = "; ".join(f"{p}: {', '.join(k)}" for p, k in by_precision.items())
    # Records before auto_kernel_precision was kept ran an fp32 shipped model.
    auto_model = f"the shipped {ebgan.get('auto_kernel_precision', 'fp32')} model"
    return [
        f"Measured {record['created']} with `{record['command']}`.",
        "",
        f"- CPU: {m['cpu']['model']}, {m['cpu']['logical_cpus']} logical CPUs, "
        f"flags {' '.join(m['cpu']['flags'])}; {m['os']}.",
        f"- ebgan-edge kernels usable: {kernels or ', '.join(ebgan['kernels'])} "
        f"(auto picks `{ebgan['auto_kernel']}` for "
        f"{auto_model}), commit "
        f"`{(ebgan['commit'] or 'unknown')[:12]}`.",
        f"- Versions: {versions}.",
        f"- Inputs: {inputs}; model `{record['model']['file']}` "
        f"(sha256 `{record['model']['sha256'][:12]}…`).",
        f"- {len(cells)} cells ({by_workload or 'none'}) of "
        f"{record['settings']['seconds_per_cell']:.0f} s, "
        f"{record['settings']['burst_ms']:.0f} ms bursts, "
        f"{min((c['rounds'] for c in cells), default=0)}–"
        f"{max((c['rounds'] for c in cells), default=0)} "
        "rounds per cell; 1-minute load average at cell starts "
        f"{min(loads):.1f}–{max(loads):.1f}.",
        "",
    ]


def markdown(record: dict) -> str:
    lines = (
        context_lines(record)
        + grid_tables(record)
        + contention_table(record)
        + record_tables(record)
    )
    skipped = record.get("skipped", {})
    if skipped:
        lines += ["Not measured:", ""]
        lines += [f"- {name}: {reason}" for name, reason in skipped.items()]
        lines.append("")
    checks = record.get("checks", {})
    if checks:
        check_rows = record["settings"].get("check_rows", "the")
        lines += [
            f"Agreement with the torch reference on the {check_rows}-row check "
            "batch (every backend is checked again at each batch size before "
            "it is timed). Each backend is checked against `TorchScorer` of "
            "the model file it runs; the last two columns set every backend, "
            "quantised or not, against the fp32 model:",
            "",
            "| backend | weights | reference | max relative error "
            "| median relative error | verdicts equal "
            "| against fp32: max / median relative error "
            "| against fp32: verdicts equal |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        ordered = [n for n in backend_order(record) if n in checks]
        ordered += [n for n in backend_order(record, "records") if n in checks]
        ordered += [n for n in checks if n not in ordered]
        for name in ordered:
            c = checks[name]
            fp32 = c.get("fp32_model", c)
            lines.append(
                f"| {name} | {precision_of(record, name)} "
                f"| {c.get('reference', 'fp32')} model "
                f"| {c['max_relative']:.2g} | {c['median_relative']:.2g} "
                f"| {c['verdict_agreement']:.2%} | {fp32['max_relative']:.2g} / "
                f"{fp32['median_relative']:.2g} | {fp32['verdict_agreement']:.2%} |"
            )
        lines.append("")
        lines += dense_path_lines(checks)
    return "\n".join(lines)


def dense_path_lines(checks: dict) -> list[str]:
    """Whether score_records gave exactly the scores of score(encode()) on
    every batch it was checked on."""
    dense = {n: c["dense_path"] for n, c in checks.items() if "dense_path" in c}
    if not dense:
        return []
    lines = [
        "`score_records` against `score(encode())` on the same scorer, on the "
        "check batch and every timed batch size:",
        "",
    ]
    for name, d in dense.items():
        sizes = ", ".join(f"{r:,}" for r in sorted(set(d["batch_sizes"])))
        verdict = (
            "bit-identical"
            if d["identical"]
            else f"differs, max relative difference {d['max_relative']:.2g}"
        )
        lines.append(f"- {name}: {verdict} ({sizes} rows).")
    return [*lines, ""]


# ebgan-edge is drawn thick, its kernels in dark colours (the int8 VNNI
# kernel shares the AVX-512 colour); other runtimes thin. The line style
# gives the precision of the weights.
OURS_COLORS = {
    "scalar": "black",
    "avx2_fma": "#8b0000",
    "avx512": "#00008b",
    "avx512_vnni": "#00008b",
    "neon": "#006400",
    "neon_dotprod": "#006400",
}
LINE_STYLES = {"fp32": "-", "fp16": ":", "int8": "--"}


def plot(record: dict, path: Path) -> None:
    """Two rows of log-log panels, one column per thread count: time per
    call and time per row, against batch size.

    ebgan-edge's fp16 model is left out: it runs the fp32 kernels on
    widened weights, its lines lie on the fp32 ones and only crowd the
    plot; the tables give its times."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    cells = cells_by(record, "as found")
    threads_list = sorted({t for _, t in cells})
    batch_sizes = sorted({r for r, _ in cells})
    names = [
        n
        for n in backend_order(record)
        if not (n.startswith(EBGAN_PREFIX) and precision_of(record, n) == "fp16")
    ]
    ours = [n for n in names if n.startswith(EBGAN_PREFIX)]
    others = [n for n in names if n not in ours]
    style = {
        n: {
            "color": plt.get_cmap("tab10").colors[i % 10],
            "lw": 1.3,
            "ms": 4,
            "ls": LINE_STYLES.get(precision_of(record, n), "-"),
        }
        for i, n in enumerate(others)
    }
    for n in ours:
        kernel = n[n.index("[") + 1 : -1]
        style[n] = {
            "color": OURS_COLORS.get(kernel, "dimgray"),
            "lw": 2.6,
            "ms": 6,
            "ls": LINE_STYLES.get(precision_of(record, n), "-"),
        }

    fig, axes = plt.subplots(
        2,
        len(threads_list),
        figsize=(6 * len(threads_list) + 2, 9),
        sharex=True,
        sharey="row",
        squeeze=False,
    )
    for column, threads in enumerate(threads_list):
        for name in names:
            points = sorted(
                (r, c["results"][name])
                for (r, t), c in cells.items()
                if t == threads and name in c["results"]
            )
            if not points:
                continue
            rows = [r for r, _ in points]
            for row_index, per_row in enumerate((False, True)):
                ax = axes[row_index][column]
                scale = [r if per_row else 1 for r in rows]
                median = [p["median_us"] / k for (_, p), k in zip(points, scale)]
                ax.plot(
                    rows,
                    median,
                    marker="o",
                    label=name,
                    zorder=3 if name in ours else 2,
                    **style[name],
                )
                ax.fill_between(
                    rows,
                    [p["p10_us"] / k for (_, p), k in zip(points, scale)],
                    [p["p90_us"] / k for (_, p), k in zip(points, scale)],
                    color=style[name]["color"],
                    alpha=0.05,
                    lw=0,
                )
        axes[0][column].set_title(f"{threads} thread{'s' if threads > 1 else ''}")
        axes[1][column].set_xlabel("batch size (rows per call)")
    for ax in axes.flat:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(batch_sizes)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("µs per call (median; band p10–p90)")
    axes[1][0].set_ylabel("µs per row (median; band p10–p90)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=9, frameon=False)
    cpu = record["machine"]["cpu"]["model"]
    fig.suptitle(
        f"Anomaly scoring latency, {cpu}: interleaved runs, lower is better "
        "(solid: fp32 weights, dashed: int8)"
    )
    fig.tight_layout(rect=(0, 0, 0.83, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def update_doc(doc: Path, text: str) -> None:
    content = doc.read_text()
    if BEGIN not in content or END not in content:
        raise SystemExit(f"{doc} has no {BEGIN} ... {END} section to replace")
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="JSON written by interleaved.py")
    parser.add_argument("--plot", type=Path, help="write the latency plot (PNG) here")
    parser.add_argument(
        "--update-doc",
        type=Path,
        help="replace the results section of this Markdown file",
    )
    args = parser.parse_args(argv)

    record = json.loads(args.results.read_text())
    text = markdown(record)
    if args.plot:
        plot(record, args.plot)
    if args.update_doc:
        update_doc(args.update_doc, text)
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
