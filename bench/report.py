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


def backend_order(record: dict) -> list[str]:
    seen: list[str] = []
    for cell in record["cells"]:
        for name in cell["results"]:
            if name not in seen:
                seen.append(name)
    return seen


def cells_by(record: dict, condition: str) -> dict[tuple[int, int], dict]:
    return {
        (c["rows"], c["threads"]): c
        for c in record["cells"]
        if c["condition"] == condition
    }


def grid_tables(record: dict) -> list[str]:
    cells = cells_by(record, "as found")
    rows_list = sorted({r for r, _ in cells})
    threads_list = sorted({t for _, t in cells})
    names = backend_order(record)
    precision = {
        n: record.get("backends", {}).get(n, {}).get("precision", "?") for n in names
    }
    lines = []
    for threads in threads_list:
        header = (
            "| backend | weights | "
            + " | ".join(f"{r:,} row{'s' if r > 1 else ''}" for r in rows_list)
            + " |"
        )
        rule = "| --- | --- |" + " ---: |" * len(rows_list)
        lines += [
            f"#### {threads} thread{'s' if threads > 1 else ''}: median time per "
            "call (p10)",
            "",
            header,
            rule,
        ]
        for name in names:
            row = []
            for r in rows_list:
                res = cells.get((r, threads), {}).get("results", {}).get(name)
                row.append(
                    f"{fmt_us(res['median_us'])} ({fmt_us(res['p10_us'])})"
                    if res
                    else "–"
                )
            lines.append(f"| {name} | {precision[name]} | " + " | ".join(row) + " |")
        lines += [
            "",
            f"#### {threads} thread{'s' if threads > 1 else ''}: rows per second "
            f"at the median (speed relative to {BASELINE})",
            "",
            header,
            rule,
        ]
        for name in names:
            row = []
            for r in rows_list:
                results = cells.get((r, threads), {}).get("results", {})
                res, base = results.get(name), results.get(BASELINE)
                if not res:
                    row.append("–")
                    continue
                ratio = (
                    f" ({base['median_us'] / res['median_us']:.2f}×)" if base else ""
                )
                row.append(fmt_rate(res["rows_per_s"]) + ratio)
            lines.append(f"| {name} | {precision[name]} | " + " | ".join(row) + " |")
        lines.append("")
    return lines


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
    loads = [c["load_average_before"][0] for c in record["cells"]]
    return [
        f"Measured {record['created']} with `{record['command']}`.",
        "",
        f"- CPU: {m['cpu']['model']}, {m['cpu']['logical_cpus']} logical CPUs, "
        f"flags {' '.join(m['cpu']['flags'])}; {m['os']}.",
        f"- ebgan-edge kernels usable: {', '.join(m['ebgan_edge']['kernels'])} "
        f"(auto picks `{m['ebgan_edge']['auto_kernel']}`), commit "
        f"`{(m['ebgan_edge']['commit'] or 'unknown')[:12]}`.",
        f"- Versions: {versions}.",
        f"- Inputs: {inputs}; model `{record['model']['file']}` "
        f"(sha256 `{record['model']['sha256'][:12]}…`).",
        f"- {len(cells)} cells of {record['settings']['seconds_per_cell']:.0f} s, "
        f"{record['settings']['burst_ms']:.0f} ms bursts, "
        f"{min(c['rounds'] for c in cells)}–{max(c['rounds'] for c in cells)} "
        "rounds per cell; 1-minute load average at cell starts "
        f"{min(loads):.1f}–{max(loads):.1f}.",
        "",
    ]


def markdown(record: dict) -> str:
    lines = context_lines(record) + grid_tables(record) + contention_table(record)
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
            "it is timed):",
            "",
            "| backend | max relative error | median relative error | verdicts equal |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, c in checks.items():
            lines.append(
                f"| {name} | {c['max_relative']:.2g} | {c['median_relative']:.2g} "
                f"| {c['verdict_agreement']:.2%} |"
            )
        lines.append("")
    return "\n".join(lines)


# ebgan-edge kernels are drawn thick in dark colours, other runtimes thin.
OURS_COLORS = ("black", "#8b0000", "#00008b", "#006400")


def plot(record: dict, path: Path) -> None:
    """Two rows of log-log panels, one column per thread count: time per
    call and time per row, against batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import ScalarFormatter

    cells = cells_by(record, "as found")
    threads_list = sorted({t for _, t in cells})
    batch_sizes = sorted({r for r, _ in cells})
    names = backend_order(record)
    others = [n for n in names if not n.startswith("ebgan-edge")]
    ours = [n for n in names if n.startswith("ebgan-edge")]
    style = {
        n: {"color": plt.get_cmap("tab10").colors[i % 10], "lw": 1.3, "ms": 4}
        for i, n in enumerate(others)
    }
    style.update(
        {
            n: {"color": OURS_COLORS[i % len(OURS_COLORS)], "lw": 2.8, "ms": 6}
            for i, n in enumerate(ours)
        }
    )

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
            int8 = record["backends"].get(name, {}).get("precision") == "int8"
            for row_index, per_row in enumerate((False, True)):
                ax = axes[row_index][column]
                scale = [r if per_row else 1 for r in rows]
                median = [p["median_us"] / k for (_, p), k in zip(points, scale)]
                ax.plot(
                    rows,
                    median,
                    marker="o",
                    ls="--" if int8 else "-",
                    label=name,
                    zorder=3 if name in ours else 2,
                    **style[name],
                )
                ax.fill_between(
                    rows,
                    [p["p10_us"] / k for (_, p), k in zip(points, scale)],
                    [p["p90_us"] / k for (_, p), k in zip(points, scale)],
                    color=style[name]["color"],
                    alpha=0.08,
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
        "(dashed: int8 weights)"
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
