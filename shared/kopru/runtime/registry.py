"""The function registry: every `functions/<name>/main.py` with its declared routes
and consumed event types. Loading a function module is cheap (no I/O, handlers
import their dependencies on first call), so the registry simply loads them."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kopru.config import REPO_ROOT

FUNCTIONS_DIR = REPO_ROOT / "functions"


@dataclass(frozen=True)
class FunctionInfo:
    name: str
    source: Path
    routes: tuple[tuple[str, str], ...]
    consumes: tuple[str, ...]

    @property
    def folder(self) -> str:
        return self.source.parent.name


def function_sources(root: Path = FUNCTIONS_DIR) -> dict[str, Path]:
    out = {}
    for main in sorted(root.glob("*/main.py")):
        out[main.parent.name.replace("_", "-")] = main
    return out


def load_module(source: Path):
    name = f"kopru_function_{source.parent.name}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, source)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@lru_cache(maxsize=1)
def functions(root: Path = FUNCTIONS_DIR) -> dict[str, FunctionInfo]:
    out = {}
    for name, src in function_sources(root).items():
        mod = load_module(src)
        fn = getattr(mod, "fn", None)
        if fn is None or fn.name != name:
            raise RuntimeError(f"{src}: must define fn = Function({name!r})")
        if not callable(getattr(mod, "handle", None)):
            raise RuntimeError(f"{src}: must define the target `handle`")
        out[name] = FunctionInfo(
            name=name, source=src,
            routes=tuple((r.method, r.path) for r in fn.routes),
            consumes=tuple(sorted(fn.consumes)),
        )
    return out
