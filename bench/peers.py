"""The peers of the pipeline bench: other stream processors doing our windows job.

Today one: Quix Streams (``bench/quix_peer.py``), what a team choosing a stream processor
would pick instead of Faust. quixstreams 3.28 requires pydantic < 2.14 and
pydantic-settings < 2.16, and we pin 2.14/2.16: rather than downgrade the product for a
benchmark, the peer gets a virtual environment of its own, ``.cache/quix-venv``, built on
first use from ``bench/quix-constraints.txt`` (a pip freeze), and runs as a child process
there, like our worker runs as one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from dataclasses import dataclass, field
from pathlib import Path

from infra.kafka.broker import set_pdeathsig, terminate
from streams.workers import memory_mb

ROOT = Path(__file__).resolve().parents[1]
PEER_SCRIPT = Path(__file__).with_name("quix_peer.py")
CONSTRAINTS = Path(__file__).with_name("quix-constraints.txt")
QUIX_VERSION = "3.28.1"


def ensure_quix_python(venv_dir: Path = ROOT / ".cache" / "quix-venv") -> Path:
    """The interpreter of the peer's venv, built (once per constraints file) if needed."""
    python = venv_dir / "bin" / "python"
    stamp = venv_dir / ".installed"
    wanted = CONSTRAINTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    venv.EnvBuilder(with_pip=True, clear=not python.exists()).create(venv_dir)
    pip = [str(python), "-m", "pip", "install", "-q", "-c", str(CONSTRAINTS)]
    subprocess.run(
        [*pip, f"quixstreams=={QUIX_VERSION}"],
        check=True,
        stdout=sys.stderr,
    )
    stamp.write_text(wanted)
    return python


@dataclass
class QuixPeer:
    """One Quix Streams peer process: reads ``source``, writes closed windows to ``sink``."""

    python: Path
    bootstrap: str
    source: str
    sink: str
    group: str
    workdir: Path
    window_s: int = 60
    grace_s: int = 10
    partitions: int = 4
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def progress_file(self) -> Path:
        return self.workdir / "progress.json"

    @property
    def log(self) -> Path:
        return self.workdir / "quix-peer.log"

    def start(self) -> QuixPeer:
        """Start the peer; it consumes from the earliest offset of its own consumer group."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.python),
            str(PEER_SCRIPT),
            *("--bootstrap", self.bootstrap, "--source", self.source, "--sink", self.sink),
            *("--group", self.group, "--state-dir", str(self.workdir / "state")),
            *("--progress-file", str(self.progress_file)),
            *("--window-s", str(self.window_s), "--grace-s", str(self.grace_s)),
            *("--partitions", str(self.partitions)),
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=set_pdeathsig,
                process_group=0,
            )
        return self

    def counters(self) -> dict[str, int]:
        """``processed`` records and ``windows`` emitted so far (0 before the first report)."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the Quix peer exited:\n{self.log.read_text()[-4000:]}")
        try:
            return dict(json.loads(self.progress_file.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return {"processed": 0, "windows": 0}

    def processed(self) -> float:
        return float(self.counters()["processed"])

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the peer so far (VmHWM), in MiB."""
        assert self.process is not None
        return memory_mb(self.process.pid, "VmHWM")

    def stop(self) -> None:
        """Stop the peer cleanly (SIGTERM: Quix commits and closes; SIGKILL after 20 s)."""
        if self.process is not None and self.process.poll() is None:
            terminate(self.process.pid, timeout_s=20)
            self.process.wait(5)
