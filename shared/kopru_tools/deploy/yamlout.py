"""Deterministic YAML: the order of keys is the order the renderer built them
(Kubernetes' apiVersion, kind, metadata, spec first; data-derived maps sorted),
no anchors or aliases, no line wrapping, block style throughout."""

from __future__ import annotations

from typing import Any, Iterable

import yaml


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        # indent list items under their key (what kubectl and most people write)
        return super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, data: str):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def dump(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=4096, indent=2)


def dump_all(docs: Iterable[Any], header: str) -> str:
    parts = [header.rstrip("\n") + "\n"]
    for doc in docs:
        parts.append("---\n" + dump(doc))
    return "".join(parts)


def sorted_map(m: dict[str, Any]) -> dict[str, Any]:
    return {k: m[k] for k in sorted(m)}
