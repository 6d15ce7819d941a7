"""scripts/kafka as a subprocess: a real single-node KRaft broker on loopback, for the
tests (tests/conftest.py) and the benchmarks (bench/events.py, bench/sms.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class KafkaBroker:
    def __init__(self, data_dir: Path, port: int, log_path: Path | None = None):
        self.data_dir, self.port = data_dir, port
        self.log_path = log_path or data_dir.parent / f"{data_dir.name}.stderr"
        self.bootstrap = f"127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 300) -> None:
        """Start it (again, on the same data dir and port) and wait for its ready line;
        RuntimeError with the tail of its log when it does not come."""
        import selectors

        env = dict(os.environ, KAFKA_PORT=str(self.port), KAFKA_DATA_DIR=str(self.data_dir))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as err:
            self.proc = subprocess.Popen([str(REPO / "scripts" / "kafka")], env=env, stdout=subprocess.PIPE,
                                         stderr=err, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sel.select(timeout=1) and self.proc.stdout.readline().startswith("kafka ready at"):
                return
            if self.proc.poll() is not None:
                break
        self.stop()
        tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:]) if self.log_path.exists() else ""
        raise RuntimeError(f"the Kafka broker did not start (scripts/kafka):\n{tail}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
