"""Every runtime the benchmarks compare, behind one call: scores = run(batch).

Each backend computes the same thing from the same model file: the anomaly
score (mean squared reconstruction error per row) of a C-contiguous (n, 121)
float32 batch, returned as an (n,) float32 array. Exported graphs (ONNX,
TorchScript, ExecuTorch, LiteRT) include the score reduction, so no backend
hands work back to Python. A backend that is not installed raises
:class:`Unavailable` with the reason; one that computes wrong scores raises
:class:`WrongScores` and is never timed.

ebgan-edge runs the shipped fp32 model and two copies of it that
``ebgan-edge convert --precision`` writes: fp16 (weights widened to float32
at load, scored by the fp32 kernels) and int8 (the int8 kernels). Each copy
is checked against ``TorchScorer`` of the same file, so a quantised model is
held to the arithmetic of its own weights, not to the fp32 scores.

The record workload starts one step earlier, from parsed
:class:`~ebgan_edge.features.Records`, and names its backends
``pipeline:backend``: ``score_records:ebgan-edge-fp32`` (the record kernels),
``encode+score:ebgan-edge-fp32`` (``encode()`` then ``score()`` on the same
scorer, the dense path) and ``encode+run:torch-eager`` (``encode()`` then any
backend above). They are checked against the same references, on the
encoding of the same rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import workload as wl

from ebgan_edge import Scorer, available_kernels, encode
from ebgan_edge.model_file import LEAKY_SLOPE

# Agreement with ebgan_edge.reference.TorchScorer, per row:
#   |score - reference| <= relative * reference + sqrt * sqrt(reference)
#                           + absolute.
# "fp32": float arithmetic on the reference's own weights (every fp32 backend,
# and ebgan-edge's fp16 model against TorchScorer of the fp16 file). Backends
# differ only in summation order and FMA contraction: scores agree to a few
# units in the 6th digit, the bound leaves 20x headroom.
# "int8": a runtime's dynamic int8 against the fp32 model. It quantises every
# activation row to 8 bits, so its error is noise of a fixed absolute size;
# rows with a tiny score see large relative errors. On the check batch the
# median relative error and the share of equal verdicts at the model's
# threshold are also bounded.
# "ebgan-int8": ebgan-edge's int8 model against TorchScorer of the same int8
# file, whose int8 path reproduces the kernels' reconstruction exactly; only
# the order of the score's sum differs. The bound is 1e-6 relative on top of
# Fp32ScoreTolerance of cpp/include/ebgan/kernel.h (kFp32RelativeBound 1e-5,
# kFp32SqrtBound 1e-6), the bound every fp32 kernel meets against the scalar
# one.
TOLERANCES = {
    "fp32": {"relative": 1e-4, "sqrt": 0.0, "absolute": 1e-8},
    "int8": {
        "relative": 0.3,
        "sqrt": 0.0,
        "absolute": 1e-3,
        "median_relative": 0.05,
        "verdict_agreement": 0.99,
    },
    "ebgan-int8": {"relative": 1e-6 + 1e-5, "sqrt": 1e-6, "absolute": 0.0},
}

# Precisions of ebgan-edge's models: the shipped fp32 file and the copies
# `ebgan-edge convert --precision` makes of it.
EBGAN_PRECISIONS = ("fp32", "fp16", "int8")

# Other runtimes, by the precision of the weights they multiply.
FP32_BACKENDS = (
    "torch-eager",
    "torchscript",
    "onnxruntime-fp32",
    "executorch-xnnpack",
    "litert-fp32",
    "numpy",
)
INT8_BACKENDS = ("onnxruntime-int8", "litert-int8")
FIXED_BACKENDS = FP32_BACKENDS + INT8_BACKENDS
EBGAN_PREFIX = "ebgan-edge-"


def ebgan_backend_name(precision: str, kernel: str) -> str:
    """``ebgan-edge-{precision}[{kernel}]``, e.g. ``ebgan-edge-int8[avx512_vnni]``."""
    return f"{EBGAN_PREFIX}{precision}[{kernel}]"


def parse_ebgan_backend(name: str) -> tuple[str, str] | None:
    """(precision, kernel) of an ebgan-edge backend name, else None."""
    if not name.startswith(EBGAN_PREFIX) or not name.endswith("]"):
        return None
    precision, _, kernel = name[len(EBGAN_PREFIX) : -1].partition("[")
    return (precision, kernel) if precision in EBGAN_PRECISIONS and kernel else None


# The record workload: ebgan-edge's two paths from parsed records, per
# precision, on the kernel the scorer picks itself; and encode() followed by
# other runtimes' encoded backends (any name above works after "encode+run:").
RECORD_PIPELINES = ("score_records", "encode+score", "encode+run")
RECORD_ENCODED_BACKENDS = ("torch-eager", "onnxruntime-fp32")


def record_backend_name(pipeline: str, backend: str) -> str:
    """``{pipeline}:{backend}``, e.g. ``score_records:ebgan-edge-int8``."""
    return f"{pipeline}:{backend}"


def parse_record_backend(name: str) -> tuple[str, str] | None:
    """(pipeline, backend) of a record-workload backend name, else None."""
    pipeline, colon, backend = name.partition(":")
    return (pipeline, backend) if colon and pipeline in RECORD_PIPELINES else None


def record_backend_names() -> list[str]:
    """The record workload's backends: the reference pipelines, then for each
    precision ebgan-edge's dense path and its record kernels."""
    names = [record_backend_name("encode+run", n) for n in RECORD_ENCODED_BACKENDS]
    for precision in EBGAN_PRECISIONS:
        model = EBGAN_PREFIX + precision
        names += [
            record_backend_name("encode+score", model),
            record_backend_name("score_records", model),
        ]
    return names


def backend_names() -> list[str]:
    """All backends, with one ebgan-edge entry per precision and kernel usable
    here; fp32, then fp16, then int8, each runtime next to its peers."""
    return [
        *FP32_BACKENDS,
        *(ebgan_backend_name("fp32", k) for k in available_kernels("fp32")),
        *(ebgan_backend_name("fp16", k) for k in available_kernels("fp16")),
        *INT8_BACKENDS,
        *(ebgan_backend_name("int8", k) for k in available_kernels("int8")),
    ]


class Unavailable(RuntimeError):
    """The backend cannot run here; the message says why."""


class WrongScores(AssertionError):
    """The backend's scores disagree with the reference beyond the tolerance."""


@dataclass
class Backend:
    name: str
    threads: int
    precision: str  # of the weights it multiplies: "fp32", "fp16" or "int8"
    run: Callable[[np.ndarray], np.ndarray]
    # Called once per batch size before timing: builds per-shape state.
    prepare: Callable[[int], None] = lambda rows: None
    details: dict = field(default_factory=dict)
    # Which model file TorchScorer reads for the reference ("fp32": the
    # workload's; "fp16", "int8": its converted copies) and which TOLERANCES
    # row applies; the tolerance defaults to the precision.
    reference: str = "fp32"
    tolerance: str = ""
    # What run() takes: "encoded", an (n, 121) float32 batch, or "records",
    # parsed Records of the same rows.
    inputs: str = "encoded"

    def __post_init__(self):
        self.tolerance = self.tolerance or self.precision


# -- thread settings of the runtimes that keep them process-wide ---------------

# ExecuTorch's XNNPACK pool is process-wide, and a program loaded before the
# pool is resized keeps a pointer into the old pool (running it then crashes).
# Every loaded program registers a reload here, run after each resize.
_executorch_reloads: list[Callable[[], None]] = []


def apply_threads(threads: int) -> None:
    """Set torch's intra-op threads, the BLAS under numpy and ExecuTorch's
    XNNPACK pool to ``threads``. ONNX Runtime, LiteRT and ebgan-edge take
    their thread count per runtime object (inference graph, interpreter, scorer)."""
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # numpy's BLAS then keeps its own default
        pass
    else:
        threadpool_limits(limits=threads)
    executorch = sys.modules.get("executorch.extension.pybindings.portable_lib")
    if executorch is not None and executorch._threadpool_get_thread_count() != threads:
        executorch._unsafe_reset_threadpool(threads)
        for reload in _executorch_reloads:
            reload()


def thread_settings() -> dict:
    """The thread settings currently in force, for the record."""
    import torch

    out = {
        "torch_intra_op": torch.get_num_threads(),
        "torch_inter_op": torch.get_num_interop_threads(),
    }
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        out["blas"] = "threadpoolctl not installed: BLAS threads not limited"
    else:
        out["blas"] = [
            {k: p.get(k) for k in ("internal_api", "num_threads", "version")}
            for p in threadpool_info()
        ]
    pl = sys.modules.get("executorch.extension.pybindings.portable_lib")
    if pl is not None:
        out["executorch_xnnpack"] = pl._threadpool_get_thread_count()
    return out


# -- checking ------------------------------------------------------------------


def check_scores(
    name: str,
    tolerance: str,
    scores,
    reference: np.ndarray,
    threshold: float,
    whole_batch: bool = False,
) -> dict:
    """Compare scores with the reference; raise WrongScores naming the worst row.

    ``whole_batch`` adds the statistical bounds of the int8 row (median
    relative error, verdict agreement), meaningful on the check batch only.
    Returns the measured errors.
    """
    tol = TOLERANCES[tolerance]
    scores = np.asarray(scores, np.float32).reshape(-1)
    if scores.shape != reference.shape:
        raise WrongScores(
            f"{name}: scores have shape {scores.shape}, expected {reference.shape}"
        )
    error = np.abs(scores.astype(np.float64) - reference)
    magnitude = np.abs(reference)
    bound = (
        tol["relative"] * magnitude + tol["sqrt"] * np.sqrt(magnitude) + tol["absolute"]
    )
    if not np.all(error <= bound):  # also catches NaN
        row = (
            int(np.nanargmax(error - bound))
            if np.isfinite(error).all()
            else int(np.flatnonzero(~np.isfinite(error))[0])
        )
        raise WrongScores(
            f"{name}: row {row} scores {scores[row]!r}, reference "
            f"{reference[row]!r}, allowed difference {bound[row]:.3g}"
        )
    measured = agreement(scores, reference, threshold)
    if whole_batch and "median_relative" in tol:
        if measured["median_relative"] > tol["median_relative"]:
            raise WrongScores(
                f"{name}: median relative error "
                f"{measured['median_relative']:.3g} exceeds "
                f"{tol['median_relative']}"
            )
        if measured["verdict_agreement"] < tol["verdict_agreement"]:
            raise WrongScores(
                f"{name}: verdicts agree on "
                f"{measured['verdict_agreement']:.2%} of rows, below "
                f"{tol['verdict_agreement']:.0%}"
            )
    return measured


def agreement(scores, reference: np.ndarray, threshold: float) -> dict:
    """Largest and median relative error, and the share of equal verdicts."""
    scores = np.asarray(scores, np.float32).reshape(-1).astype(np.float64)
    relative = np.abs(scores - reference) / np.maximum(np.abs(reference), 1e-12)
    return {
        "max_relative": float(relative.max()),
        "median_relative": float(np.median(relative)),
        "verdict_agreement": float(
            np.mean((scores > threshold) == (reference > threshold))
        ),
    }


# -- the backends ----------------------------------------------------------------


class BackendFactory:
    """Builds backends for one workload, exporting models into the cache once.

    Every backend returned by :meth:`build` has passed the check against
    ``TorchScorer`` on the check batch; :meth:`prepare` checks it again on
    each batch size before that size is timed.
    """

    def __init__(self, workload: wl.Workload, batch_sizes=wl.BATCH_SIZES):
        self.workload = workload
        self.batch_sizes = tuple(sorted(set(batch_sizes) | {wl.CHECK_ROWS}))
        digest = wl.sha256_of(workload.model_path)[:16]
        self.cache = wl.cache_dir() / digest
        self.cache.mkdir(parents=True, exist_ok=True)
        self._reference: dict[tuple[str, int], np.ndarray] = {}
        self._model_files: dict[str, Path] = {"fp32": Path(workload.model_path)}
        self._checked: set[tuple[str, int, int]] = set()
        self._scorers: dict[tuple[str, int], Scorer] = {}
        self.errors: dict[str, dict] = {}

    def inputs(self, kind: str, rows: int):
        """The batch of ``rows`` records a backend of that input kind runs on:
        encoded ("encoded") or parsed ("records"), the same rows either way."""
        if kind == "records":
            return self.workload.record_batch(rows)
        return self.workload.batch(rows)

    def model_file(self, precision: str) -> Path:
        """The workload's model file in ``precision``: the file itself for
        fp32, else a copy written once per factory by ``ebgan-edge convert``
        (cheap, and never stale after a change to the converter)."""
        if precision not in self._model_files:
            path = (
                self.cache / f"{Path(self.workload.model_path).stem}.{precision}.ebgan"
            )
            env = dict(os.environ)
            package_dir = str(Path(wl.__file__).resolve().parents[1] / "python")
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (package_dir, env.get("PYTHONPATH", "")) if p
            )
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "ebgan_edge.cli",
                    "convert",
                    str(self.workload.model_path),
                    "--out",
                    str(path),
                    "--precision",
                    precision,
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                tail = result.stderr.strip().splitlines()[-1:] or ["(no message)"]
                raise Unavailable(
                    f"ebgan-edge convert to {precision} failed: {tail[0]}"
                )
            self._model_files[precision] = path
        return self._model_files[precision]

    # reference scores, computed once per model file and batch size
    def reference(self, rows: int, precision: str = "fp32") -> np.ndarray:
        key = (precision, rows)
        if key not in self._reference:
            from ebgan_edge.reference import TorchScorer

            scorer = (
                TorchScorer(self.workload.model)
                if precision == "fp32"
                else TorchScorer.load(self.model_file(precision))
            )
            self._reference[key] = scorer.score(self.workload.batch(rows)).astype(
                np.float64
            )
        return self._reference[key]

    def build(self, name: str, threads: int) -> Backend:
        """A checked backend; raises Unavailable or WrongScores."""
        record = parse_record_backend(name)
        if record is not None:
            backend = self._record_pipeline(*record, threads)
        else:
            backend = self._make(name, threads)
        backend.name = name
        self.verify(backend, wl.CHECK_ROWS, whole_batch=True)
        return backend

    def _make(self, name: str, threads: int) -> Backend:
        """An encoded backend, not yet checked."""
        ebgan = parse_ebgan_backend(name)
        if ebgan is not None:
            return self._ebgan_edge(*ebgan, threads)
        maker = getattr(self, "_" + name.replace("-", "_"), None)
        if maker is None:
            raise Unavailable(f"unknown backend {name!r}")
        return maker(threads)

    def prepare(self, backend: Backend, rows: int) -> None:
        """Build per-shape state and check the scores at this batch size."""
        backend.prepare(rows)
        self.verify(backend, rows)

    def verify(self, backend: Backend, rows: int, whole_batch: bool = False) -> None:
        key = (backend.name, backend.threads, rows)
        if key in self._checked:
            return
        backend.prepare(rows)
        apply_threads(backend.threads)
        scores = backend.run(self.inputs(backend.inputs, rows))
        threshold = self.workload.model.threshold
        measured = check_scores(
            backend.name,
            backend.tolerance,
            scores,
            self.reference(rows, backend.reference),
            threshold,
            whole_batch,
        )
        if whole_batch:
            # Against the fp32 model too, so that quantised models of every
            # runtime can be compared on one scale. Recorded, not bounded.
            measured["reference"] = backend.reference
            measured["fp32_model"] = (
                agreement(scores, self.reference(rows), threshold)
                if backend.reference != "fp32"
                else {
                    k: measured[k]
                    for k in ("max_relative", "median_relative", "verdict_agreement")
                }
            )
            self.errors[backend.name] = measured
        if (parse_record_backend(backend.name) or ("",))[0] == "score_records":
            self._compare_with_dense(backend, rows, scores)
        self._checked.add(key)

    def _compare_with_dense(self, backend: Backend, rows: int, scores) -> None:
        """Record whether score_records equals score(encode()) bit for bit on
        this batch, as the API promises. Recorded, not enforced: the check
        against the reference has already passed."""
        scorer = self._auto_scorer(backend.precision, backend.threads)
        dense = scorer.score(self.workload.batch(rows)).astype(np.float64)
        ours = np.asarray(scores, np.float64)
        relative = np.abs(ours - dense) / np.maximum(np.abs(dense), 1e-30)
        entry = self.errors.setdefault(backend.name, {}).setdefault(
            "dense_path", {"identical": True, "max_relative": 0.0, "batch_sizes": []}
        )
        entry["identical"] &= bool(np.array_equal(ours, dense))
        entry["max_relative"] = max(entry["max_relative"], float(relative.max()))
        entry["batch_sizes"].append(rows)
        if not np.array_equal(ours, dense):
            print(
                f"  {backend.name}: {rows} rows differ from score(encode()) "
                f"(max relative {relative.max():.3g})",
                file=sys.stderr,
            )

    # -- torch -----------------------------------------------------------------

    def _torch_eager(self, threads: int) -> Backend:
        import torch

        module = wl.energy_module(self.workload.model)

        def run(batch):
            with torch.inference_mode():
                return module(torch.from_numpy(batch)).numpy()

        return Backend(
            "",
            threads,
            "fp32",
            run,
            details={"version": torch.__version__, "mode": "inference_mode"},
        )

    def _torchscript(self, threads: int) -> Backend:
        import torch

        path = self.cache / f"energy.torch-{torch.__version__}.pt"
        if not path.exists():
            module = wl.energy_module(self.workload.model)
            traced = torch.jit.trace(module, torch.from_numpy(self.workload.batch(8)))
            torch.jit.save(torch.jit.freeze(traced), str(path))
        module = torch.jit.load(str(path)).eval()

        def run(batch):
            with torch.inference_mode():
                return module(torch.from_numpy(batch)).numpy()

        return Backend(
            "",
            threads,
            "fp32",
            run,
            details={"version": torch.__version__, "build": "trace + freeze"},
        )

    # -- ONNX Runtime ----------------------------------------------------------

    def _onnx_file(self, int8: bool) -> Path:
        import onnxruntime
        import torch

        fp32 = self.cache / f"energy.torch-{torch.__version__}.onnx"
        if not fp32.exists():
            module = wl.energy_module(self.workload.model)
            sample = torch.from_numpy(self.workload.batch(8))
            torch.onnx.export(
                module,
                (sample,),
                str(fp32),
                dynamo=True,
                dynamic_shapes=({0: torch.export.Dim("batch")},),
                input_names=["records"],
                output_names=["energy"],
                external_data=False,
                verbose=False,
            )
        if not int8:
            return fp32
        quantized = fp32.with_name(
            f"{fp32.stem}.ort-{onnxruntime.__version__}-int8.onnx"
        )
        if not quantized.exists():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(
                str(fp32), str(quantized), weight_type=QuantType.QInt8, per_channel=True
            )
        return quantized

    def _onnxruntime(self, threads: int, int8: bool) -> Backend:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise Unavailable(f"onnxruntime is not installed ({e})") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        graph = ort.InferenceSession(
            str(self._onnx_file(int8)), options, providers=["CPUExecutionProvider"]
        )
        input_name = graph.get_inputs()[0].name

        def run(batch):
            return graph.run(None, {input_name: batch})[0]

        return Backend(
            "",
            threads,
            "int8" if int8 else "fp32",
            run,
            details={
                "version": ort.__version__,
                "quantization": "dynamic, per-channel int8 weights" if int8 else "none",
                "spinning": "default (intra-op threads spin)",
            },
        )

    def _onnxruntime_fp32(self, threads: int) -> Backend:
        return self._onnxruntime(threads, int8=False)

    def _onnxruntime_int8(self, threads: int) -> Backend:
        return self._onnxruntime(threads, int8=True)

    # -- ExecuTorch ------------------------------------------------------------

    def _executorch_xnnpack(self, threads: int) -> Backend:
        try:
            from importlib.metadata import version

            import torch

            et_version = version("executorch")
        except Exception as e:
            raise Unavailable(f"executorch is not installed ({e})") from None
        # The batch dimension is bounded at export: the bound names the file.
        bound = max(max(self.batch_sizes), max(wl.BATCH_SIZES))
        path = self.cache / f"energy.executorch-{et_version}.xnnpack.max{bound}.pte"
        if not path.exists():
            self._export_executorch(path, bound)
        from executorch.extension.pybindings import portable_lib

        loaded = {"program": portable_lib._load_for_executorch(str(path))}

        def reload():
            loaded["program"] = portable_lib._load_for_executorch(str(path))

        _executorch_reloads.append(reload)

        def run(batch):
            return loaded["program"].forward((torch.from_numpy(batch),))[0].numpy()

        return Backend(
            "",
            threads,
            "fp32",
            run,
            details={
                "version": et_version,
                "delegate": "XNNPACK",
                "threads": "process-wide XNNPACK pool",
            },
        )

    def _export_executorch(self, path: Path, bound: int) -> None:
        import torch
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import (
            XnnpackPartitioner,
        )
        from executorch.exir import to_edge_transform_and_lower

        module = wl.energy_module(self.workload.model)
        sample = torch.from_numpy(self.workload.batch(8))
        batch = torch.export.Dim("batch", min=1, max=bound)
        program = torch.export.export(module, (sample,), dynamic_shapes=({0: batch},))
        lowered = to_edge_transform_and_lower(
            program, partitioner=[XnnpackPartitioner()]
        )
        path.write_bytes(lowered.to_executorch().buffer)

    # -- LiteRT ----------------------------------------------------------------

    def _tflite_files(self) -> Path:
        """Exports the fixed-shape flatbuffers (see export_tflite.py) if missing."""
        from export_tflite import tflite_paths

        out = self.cache / "tflite"
        missing = [
            b
            for b in self.batch_sizes
            if not all(p.exists() for p in tflite_paths(out, b))
        ]
        if not missing:
            return out
        script = Path(__file__).with_name("export_tflite.py")
        try:
            import litert_torch  # noqa: F401

            python = sys.executable
        except ImportError:
            python = os.environ.get("EBGAN_BENCH_LITERT_PYTHON")
            if not python:
                raise Unavailable(
                    "litert-torch (needed to write the .tflite files) is not "
                    "installed; install it, or name an interpreter that has it "
                    "in EBGAN_BENCH_LITERT_PYTHON"
                ) from None
        env = dict(os.environ)
        package_dir = str(Path(wl.__file__).resolve().parents[1] / "python")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_dir, env.get("PYTHONPATH", "")) if p
        )
        result = subprocess.run(
            [
                python,
                str(script),
                str(self.workload.model_path),
                str(out),
                *map(str, missing),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            tail = result.stderr.strip().splitlines()[-1:] or ["(no message)"]
            raise Unavailable(f"the .tflite export failed: {tail[0]}")
        return out

    def _litert(self, threads: int, int8: bool) -> Backend:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise Unavailable(f"ai-edge-litert is not installed ({e})") from None
        from importlib.metadata import version

        from export_tflite import tflite_paths

        out = self._tflite_files()
        interpreters: dict[int, tuple] = {}

        def prepare(rows):
            if rows in interpreters:
                return
            path = tflite_paths(out, rows)[1 if int8 else 0]
            if not path.exists():
                raise Unavailable(f"no .tflite file for batch size {rows}")
            interpreter = Interpreter(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
            interpreters[rows] = (
                interpreter,
                interpreter.get_input_details()[0]["index"],
                interpreter.get_output_details()[0]["index"],
            )

        def run(batch):
            interpreter, source, sink = interpreters[len(batch)]
            interpreter.set_tensor(source, batch)
            interpreter.invoke()
            return interpreter.get_tensor(sink)

        return Backend(
            "",
            threads,
            "int8" if int8 else "fp32",
            run,
            prepare,
            details={
                "version": version("ai-edge-litert"),
                "delegate": "XNNPACK (default delegate)",
                "shapes": "one flatbuffer per batch size",
                "quantization": "dynamic_wi8_afp32" if int8 else "none",
            },
        )

    def _litert_fp32(self, threads: int) -> Backend:
        return self._litert(threads, int8=False)

    def _litert_int8(self, threads: int) -> Backend:
        return self._litert(threads, int8=True)

    # -- numpy and ebgan-edge --------------------------------------------------

    def _numpy(self, threads: int) -> Backend:
        layers = [
            (
                np.ascontiguousarray(w.T),
                np.asarray(layer["bias"], np.float32),
                bool(layer["leaky_relu"]),
            )
            for w, layer in zip(
                self.workload.model.dequantized_weights(), self.workload.model.layers
            )
        ]
        slope = np.float32(LEAKY_SLOPE)

        def run(batch):
            y = batch
            for weight_t, bias, leaky in layers:
                y = y @ weight_t
                y += bias
                if leaky:  # slope < 1, so LeakyReLU(y) = max(y, slope * y)
                    np.maximum(y, slope * y, out=y)
            y -= batch
            return np.einsum("ij,ij->i", y, y) / np.float32(y.shape[1])

        return Backend(
            "",
            threads,
            "fp32",
            run,
            details={"version": np.__version__, "blas": "threadpoolctl-limited"},
        )

    def _ebgan_edge(self, precision: str, kernel: str, threads: int) -> Backend:
        usable = available_kernels(precision)
        if kernel not in usable:
            raise Unavailable(
                f"no {precision} kernel {kernel!r} is usable here "
                f"(usable: {', '.join(usable)})"
            )
        path = self.model_file(precision)
        scorer = Scorer.load(path, kernel=kernel, threads=threads)
        if scorer.kernel != kernel or scorer.precision != precision:
            raise WrongScores(
                f"asked for the {precision} model on kernel {kernel!r}, got "
                f"{scorer.precision} on {scorer.kernel!r}"
            )
        return Backend(
            "",
            threads,
            precision,
            scorer.score,
            details={
                "kernel": scorer.kernel,
                "threads": scorer.threads,
                "model": path.name,
                "model_sha256": wl.sha256_of(path),
            },
            reference=precision,
            tolerance="ebgan-int8" if precision == "int8" else "fp32",
        )

    # -- the record workload -----------------------------------------------

    def _auto_scorer(self, precision: str, threads: int) -> Scorer:
        """The scorer of the model in ``precision`` on the kernel it picks
        itself, one per (precision, threads), shared by both of its record
        pipelines so that they run the very same kernel."""
        key = (precision, threads)
        if key not in self._scorers:
            self._scorers[key] = Scorer.load(
                self.model_file(precision), threads=threads
            )
        return self._scorers[key]

    def _record_pipeline(self, pipeline: str, inner: str, threads: int) -> Backend:
        """A backend that takes parsed Records: ebgan-edge's score_records or
        encode+score on its automatic kernel, or encode() before any encoded
        backend (encode+run)."""
        if pipeline == "encode+run":
            backend = self._make(inner, threads)
            normalization = self.workload.model.normalization
            run_encoded = backend.run

            def run(records):
                return run_encoded(encode(records, normalization))

            backend.run = run
            backend.inputs = "records"
            backend.details = {**backend.details, "encode": "ebgan_edge.encode"}
            return backend

        precision = inner[len(EBGAN_PREFIX) :] if inner.startswith(EBGAN_PREFIX) else ""
        if precision not in EBGAN_PRECISIONS:
            raise Unavailable(
                f"{pipeline} runs ebgan-edge models only "
                f"({', '.join(EBGAN_PREFIX + p for p in EBGAN_PRECISIONS)}), "
                f"not {inner!r}"
            )
        scorer = self._auto_scorer(precision, threads)
        if pipeline == "score_records":
            run = scorer.score_records
        else:
            normalization = scorer.normalization

            def run(records):
                return scorer.score(encode(records, normalization))

        path = self.model_file(precision)
        return Backend(
            "",
            threads,
            precision,
            run,
            details={
                "kernel": scorer.kernel,
                "kernel_choice": "auto",
                "threads": scorer.threads,
                "model": path.name,
                "model_sha256": wl.sha256_of(path),
            },
            reference=precision,
            tolerance="ebgan-int8" if precision == "int8" else "fp32",
            inputs="records",
        )
