"""README's walkthrough is true: its bash block (between the walkthrough markers) runs,
as a person would paste it, against `kopru dev` on its embedded defaults, and every step
answers what the README says (each `curl -f` fails the block on a 4xx/5xx)."""

import os
import re
import signal
import subprocess

from tests.conftest import REPO
from tests.test_entrypoints import BIN, free_port, wait_for


def test_the_readme_walkthrough_runs_against_kopru_dev(tmp_path):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- walkthrough:begin -->\n```bash\n(.*?)```\n<!-- walkthrough:end -->", text, re.S)
    assert block, "README has no walkthrough block"
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DATABASE_OWNER_URL", "REDIS_URL", "KOPRU_MASTER_KEY", "NETGSM_BASE_URL",
                        "NILVERA_BASE_URL", "IYZICO_BASE_URL", "ARVENTO_BASE_URL", "KOPRU_PUBLIC_URL",
                        "KOPRU_OPERATOR_CLIENT_ID", "KOPRU_OPERATOR_CLIENT_SECRET")}
    env.update(KOPRU_DATA_DIR=str(tmp_path / "data"), NETGSM_SIM_DELIVER_AFTER="0.5")
    proc = subprocess.Popen([str(BIN / "kopru"), "dev", "--port", str(port)], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/function/tenant-onboarding/healthz", proc, 90)
        run = subprocess.run(["bash", "-c", block.group(1)], cwd=REPO, capture_output=True, text=True, timeout=300,
                             env={**env, "KOPRU": f"http://127.0.0.1:{port}",
                                  "PATH": f"{BIN}:{os.environ.get('PATH', '')}"})
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        out = run.stdout
        assert '"code":"request.validation_failed"' in out.replace(" ", "") and "msgheader" in out
        assert "\ndelivered\n" in out  # the SMS's status after the report poll
        assert "<?xml" in out and "Invoice" in out  # the signed e-Arşiv document
        assert '"format": "kopru.kvkk.export.v1"' in out  # the export's document, through its link
        assert '"status":"completed"' in out.replace(" ", "")  # the erasure
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
