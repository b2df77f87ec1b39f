"""ONNX interchange for fp32 models.

Export writes the autoencoder and its anomaly score as one ONNX graph: input
``records`` (n, 121) float32, outputs ``score`` (n,) and ``reconstruction``
(n, 121). The normalisation, threshold and provenance ride along in the
model's ``metadata_props`` so that :func:`import_onnx` can rebuild a complete
model file.

Import accepts any graph with this architecture: a chain of six dense layers
(``Gemm``, or ``MatMul`` followed by ``Add``) with ``LeakyRelu`` (alpha 0.2)
after layers 1, 2, 4 and 5, optionally followed by anything computed from
the reconstruction (such as an MSE). Any other graph is refused with a
message saying where it differs.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ebgan_edge.features import Normalization
from ebgan_edge.model_file import LAYER_WIDTHS, LEAKY_SLOPE, ModelFile

__all__ = ["OnnxImportError", "export_onnx", "import_onnx"]

_LEAKY = (True, True, False, True, True, False)
_OPSET = 17
_META_KEY = "ebgan_edge"


class OnnxImportError(ValueError):
    """An ONNX graph that is not this architecture."""


def export_onnx(model: ModelFile, path: str | os.PathLike) -> None:
    """Write an fp32 (or fp16, widened) model as an ONNX graph with its score."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if model.precision == "int8":
        raise ValueError(
            "ONNX export takes fp32 or fp16 models; int8 files are not exported"
        )
    nodes, initializers = [], []
    current = "records"
    for i, (weight, layer) in enumerate(zip(model.dequantized_weights(), model.layers)):
        initializers += [
            numpy_helper.from_array(np.ascontiguousarray(weight), f"layer{i}.weight"),
            numpy_helper.from_array(
                np.asarray(layer["bias"], np.float32), f"layer{i}.bias"
            ),
        ]
        output = "reconstruction" if i == len(_LEAKY) - 1 else f"dense{i}"
        nodes.append(
            helper.make_node(
                "Gemm",
                [current, f"layer{i}.weight", f"layer{i}.bias"],
                [output],
                transB=1,
            )
        )
        current = output
        if _LEAKY[i]:
            nodes.append(
                helper.make_node("LeakyRelu", [current], [f"act{i}"], alpha=LEAKY_SLOPE)
            )
            current = f"act{i}"
    nodes += [
        helper.make_node("Sub", ["reconstruction", "records"], ["error"]),
        helper.make_node("Mul", ["error", "error"], ["squared_error"]),
        helper.make_node(
            "ReduceMean", ["squared_error"], ["score"], axes=[1], keepdims=0
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "ebgan_edge_discriminator",
        [
            helper.make_tensor_value_info(
                "records", TensorProto.FLOAT, ["n", LAYER_WIDTHS[0]]
            )
        ],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["n"]),
            helper.make_tensor_value_info(
                "reconstruction", TensorProto.FLOAT, ["n", LAYER_WIDTHS[-1]]
            ),
        ],
        initializers,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", _OPSET)],
        producer_name="ebgan-edge",
    )
    extra = {
        "minimum": model.normalization.minimum.tolist(),
        "maximum": model.normalization.maximum.tolist(),
        "threshold": model.threshold,
        "calibration": model.calibration,
        "metadata": model.metadata,
    }
    helper.set_model_props(onnx_model, {_META_KEY: json.dumps(extra)})
    onnx.checker.check_model(onnx_model, full_check=True)
    onnx.save(onnx_model, os.fspath(path))


def _dense_chain(graph):
    """The dense layers reached from the graph input, as (weight, bias, leaky)."""
    from onnx import numpy_helper

    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    if len(graph.input) < 1:
        raise OnnxImportError("the graph has no input")
    inputs = [i.name for i in graph.input if i.name not in constants]
    if len(inputs) != 1:
        raise OnnxImportError(f"expected one input tensor, found {len(inputs)}")

    def only_dense_consumer(name):
        nodes = [n for n in consumers.get(name, []) if n.op_type in ("Gemm", "MatMul")]
        if len(nodes) != 1:
            return None
        return nodes[0]

    layers, current = [], inputs[0]
    while len(layers) < len(_LEAKY):
        node = only_dense_consumer(current)
        where = f"layer {len(layers)}"
        if node is None:
            raise OnnxImportError(
                f"{where}: expected one Gemm or MatMul reading {current!r}; "
                f"the graph has {len(layers)} dense layers where 6 are needed"
            )
        other = [n for n in node.input if n != current]
        if node.op_type == "Gemm":
            attrs = {a.name: a for a in node.attribute}
            trans_a = attrs["transA"].i if "transA" in attrs else 0
            trans_b = attrs["transB"].i if "transB" in attrs else 0
            alpha = attrs["alpha"].f if "alpha" in attrs else 1.0
            beta = attrs["beta"].f if "beta" in attrs else 1.0
            if trans_a or alpha != 1.0 or beta != 1.0 or len(other) != 2:
                raise OnnxImportError(
                    f"{where}: Gemm with transA/alpha/beta is not supported"
                )
            weight = constants.get(other[0])
            bias = constants.get(other[1])
            if weight is None or bias is None:
                raise OnnxImportError(f"{where}: weights are not constants")
            weight = weight if trans_b else weight.T
            output = node.output[0]
        else:
            weight = constants.get(other[0]) if other else None
            if weight is None:
                raise OnnxImportError(f"{where}: MatMul weight is not a constant")
            weight = weight.T
            adds = [n for n in consumers.get(node.output[0], []) if n.op_type == "Add"]
            bias = None
            if len(adds) == 1:
                bias_names = [n for n in adds[0].input if n != node.output[0]]
                bias = constants.get(bias_names[0]) if bias_names else None
            if bias is None:
                raise OnnxImportError(
                    f"{where}: MatMul is not followed by a constant bias Add"
                )
            output = adds[0].output[0]
        expected = (LAYER_WIDTHS[len(layers) + 1], LAYER_WIDTHS[len(layers)])
        if weight.shape != expected or bias.shape != expected[:1]:
            raise OnnxImportError(
                f"{where}: weight {weight.shape} and bias {bias.shape}, expected "
                f"{expected} and {expected[:1]} "
                "(architecture 121-512-256-100-128-256-121)"
            )
        leaky_nodes = [n for n in consumers.get(output, []) if n.op_type == "LeakyRelu"]
        want_leaky = _LEAKY[len(layers)]
        if want_leaky:
            if len(leaky_nodes) != 1:
                raise OnnxImportError(f"{where}: expected LeakyRelu after it")
            alphas = [a.f for a in leaky_nodes[0].attribute if a.name == "alpha"]
            alpha = alphas[0] if alphas else 0.01
            if not np.isclose(alpha, LEAKY_SLOPE, rtol=1e-6):
                raise OnnxImportError(
                    f"{where}: LeakyRelu alpha {alpha:g}, "
                    f"this architecture uses {LEAKY_SLOPE}"
                )
            output = leaky_nodes[0].output[0]
        elif leaky_nodes:
            raise OnnxImportError(f"{where}: must be linear, found LeakyRelu after it")
        layers.append(
            {"weight": weight.astype(np.float32), "bias": bias.astype(np.float32)}
        )
        current = output
    return layers


def import_onnx(path: str | os.PathLike, like: ModelFile | None = None) -> dict:
    """Read an ONNX graph of this architecture.

    Parameters
    ----------
    path : path
        The ONNX file.
    like : ModelFile, optional
        Where to take the normalisation, threshold and calibration from when
        the graph does not carry them (graphs exported by ebgan-edge do).

    Returns
    -------
    dict
        Keyword arguments for :func:`ebgan_edge.training.model_writer.model_bytes`.

    Raises
    ------
    OnnxImportError
        The graph is not this architecture, or carries no normalisation and
        ``like`` is not given.
    """
    import onnx

    model = onnx.load(os.fspath(path))
    layers = _dense_chain(model.graph)
    props = {p.key: p.value for p in model.metadata_props}
    if _META_KEY in props:
        extra = json.loads(props[_META_KEY])
        normalization = Normalization(
            np.asarray(extra["minimum"], np.float32),
            np.asarray(extra["maximum"], np.float32),
        )
        threshold, calibration = float(extra["threshold"]), extra.get("calibration", {})
        metadata = dict(extra.get("metadata", {}))
    elif like is not None:
        normalization, threshold = like.normalization, like.threshold
        calibration, metadata = like.calibration, dict(like.metadata)
    else:
        raise OnnxImportError(
            "the graph carries no ebgan-edge normalisation or threshold; "
            "pass a model file to take them from"
        )
    metadata["converted_from"] = os.path.basename(os.fspath(path))
    return {
        "layers": layers,
        "normalization": normalization,
        "threshold": threshold,
        "calibration": calibration,
        "metadata": metadata,
    }
