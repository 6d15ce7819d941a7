"""Proof that a served path runs without SQLAlchemy (CLAUDE.md: plain SQL on request and
consumer paths; importing it is ~100-170 ms of a cold start): a sitecustomize put on a child
process's path records the stack of any import of `sqlalchemy` to a file, so a test drives
the real function process (or a fresh interpreter) and then asserts the file was never
written. The test process's own imports do not count."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = '''
import os, sys, traceback


class _SqlalchemyProbe:
    """Writes the stack of the first import of sqlalchemy to $KOPRU_TEST_IMPORT_PROBE."""

    def find_spec(self, name, path=None, target=None):
        if name == "sqlalchemy" or name.startswith("sqlalchemy."):
            with open(os.environ["KOPRU_TEST_IMPORT_PROBE"], "a") as f:
                f.write(name + "\\n" + "".join(traceback.format_stack()[-15:]) + "\\n")
            sys.meta_path.remove(self)
        return None


if os.environ.get("KOPRU_TEST_IMPORT_PROBE"):
    sys.meta_path.insert(0, _SqlalchemyProbe())
'''


def probe_env(tmp_path: Path, name: str) -> tuple[dict[str, str], Path]:
    """Environment additions that make a child process record sqlalchemy imports, and the
    file they go to (`name` tells the children of one test apart). The probe is checked to
    catch an import before it is trusted to report none."""
    site = tmp_path / "probe"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(PROBE)
    out = tmp_path / f"{name}.imports"
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path, "KOPRU_TEST_IMPORT_PROBE": str(out)}
    check = tmp_path / f"{name}.probe-check"
    if not check.exists():
        subprocess.run([sys.executable, "-c", "import sqlalchemy"], check=True,
                       env={**os.environ, **env, "KOPRU_TEST_IMPORT_PROBE": str(check)})
        assert check.read_text().startswith("sqlalchemy\n"), "the import probe did not see an import"
    return env, out


def assert_no_sqlalchemy(out: Path) -> None:
    assert not out.exists(), "sqlalchemy imported on a served path:\n" + out.read_text()[:6000]
