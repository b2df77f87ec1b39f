"""Convert a model file into LiteRT flatbuffers: fp32 and dynamic-range int8.

litert-torch pins its own dependency versions, so it may live in a separate
environment that shares torch 2.13.0 with the main one (a venv made with
``--system-site-packages``). The benchmarks then run this script with that
environment's interpreter, named by ``EBGAN_BENCH_LITERT_PYTHON``::

    python bench/export_tflite.py MODEL OUT_DIR 1 16 256 4096

It writes ``OUT_DIR/energy_b{n}_fp32.tflite`` and ``..._int8.tflite`` for
each batch size n. One file per batch size, because litert-torch 0.10 cannot
lower a dynamic batch dimension (its JAX bridge asserts on the symbolic size
of the first matrix product); fixed shapes are also what LiteRT plans best.

The int8 file quantises weights per output channel and activations per call
(ai-edge-quantizer's ``dynamic_wi8_afp32`` recipe), the same scheme as ONNX
Runtime's ``quantize_dynamic``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def tflite_paths(out_dir: Path, batch: int) -> tuple[Path, Path]:
    """The fp32 and int8 files for one batch size."""
    return (
        out_dir / f"energy_b{batch}_fp32.tflite",
        out_dir / f"energy_b{batch}_int8.tflite",
    )


def export(model_path: str, out_dir: str, batches: list[int]) -> None:
    import litert_torch
    import torch
    from ai_edge_quantizer import quantizer, recipe
    from workload import energy_module

    from ebgan_edge import read_model

    module = energy_module(read_model(model_path))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for batch in batches:
        fp32_path, int8_path = tflite_paths(out, batch)
        litert_torch.convert(module, (torch.rand(batch, 121),)).export(str(fp32_path))

        quant = quantizer.Quantizer(str(fp32_path))
        quant.load_quantization_recipe(recipe.dynamic_wi8_afp32())
        quant.quantize().export_model(str(int8_path), overwrite=True)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(f"usage: {sys.argv[0]} MODEL OUT_DIR BATCH [BATCH ...]")
    export(sys.argv[1], sys.argv[2], [int(b) for b in sys.argv[3:]])
