"""The type stub of the compiled module names exactly what the module has."""

from __future__ import annotations

import ast
from pathlib import Path

from ebgan_edge import _core

STUB = Path(__file__).resolve().parents[1] / "python" / "ebgan_edge" / "_core.pyi"


def stub_names() -> tuple[set[str], set[str]]:
    tree = ast.parse(STUB.read_text())
    names, engine = set(), set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
        if isinstance(node, ast.ClassDef) and node.name == "Engine":
            engine = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    return names, engine - {"__init__"}


def test_stub_lists_every_public_name_of_the_module():
    names, engine = stub_names()
    module = {n for n in dir(_core) if not n.startswith("_")}
    assert names == module
    assert engine == {n for n in dir(_core.Engine) if not n.startswith("_")}
