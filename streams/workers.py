"""Worker processes: start ``computeperf worker`` as a child, wait until it serves, read metrics.

Used by ``computeperf run``, the benchmarks and the integration tests, so that all of them
run the worker exactly as a user does.

>>> env = settings_env(Settings(topic_prefix="x."))
>>> env["COMPUTEPERF_TOPIC_PREFIX"]
'x.'
>>> s = Settings(
...     kafka_security_protocol="SASL_SSL", kafka_sasl_username="u", kafka_sasl_password="pw"
... )
>>> settings_env(s)["COMPUTEPERF_KAFKA_SASL_PASSWORD"]
'pw'
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from config.settings import Settings
from infra.kafka.broker import set_pdeathsig, terminate


def settings_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment under which a child process builds exactly ``settings``."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith("COMPUTEPERF_") and k != "KAFKA_BOOTSTRAP_SERVERS"
    }
    for name, value in settings.model_dump().items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is not None:
            env[f"COMPUTEPERF_{name.upper()}"] = str(value)
    return env


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``computeperf ARGS`` as a child that dies with us, output appended to ``log``.

    The child gets a process group of its own: Ctrl-C in a terminal signals only the
    parent, which stops its children in the order it chooses (workers before the broker
    they need to leave their consumer groups).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=set_pdeathsig,
            process_group=0,
        )


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A memory figure of process ``pid`` from ``/proc/PID/status``, in MiB (NaN if absent).

    ``VmRSS`` is the resident memory now, ``VmHWM`` its peak so far.

    >>> memory_mb(os.getpid(), "VmHWM") >= memory_mb(os.getpid()) > 0
    True
    """
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of metric ``name`` in exposition ``text`` whose labels include ``labels``.

    >>> lines = ['m{topic="a",p="0"} 2.0', 'm{topic="a",p="1"} 3.0', "m_x 9"]
    >>> metric_sum(chr(10).join(lines), "m", topic="a")
    5.0
    """
    total = 0.0
    for line in text.splitlines():
        if not (line.startswith(name + "{") or line.startswith(name + " ")):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


@dataclass
class WorkerProcess:
    """One ``computeperf worker`` child process with its web port (``/metrics``, ``/healthz``)."""

    settings: Settings
    log: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.web_port}"

    def log_tail(self, chars: int = 6000) -> str:
        """The last ``chars`` characters of the worker's log."""
        return self.log.read_text(errors="replace")[-chars:]

    def exited(self) -> RuntimeError:
        """The error to raise once the worker has exited: its exit code and log's tail."""
        code = self.process.returncode if self.process is not None else None
        return RuntimeError(f"worker exited with {code}:\n{self.log_tail()}")

    def launch(self) -> WorkerProcess:
        """Start the worker without waiting (a standby serves nothing until it is active)."""
        args = ["worker", "-l", "info", "--web-port", str(self.settings.web_port)]
        self.process = spawn(args, settings_env(self.settings), self.log)
        return self

    def start(self, timeout_s: float = 90.0) -> WorkerProcess:
        """Start the worker and wait until its web server answers."""
        self.launch()
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self.exited()
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:  # noqa: S310
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout_s}s:\n{self.log_tail()}")

    def wait_ready(self, timeout_s: float = 120.0) -> WorkerProcess:
        """Wait until ``/readyz`` answers 200: tables recovered, agents consuming."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise self.exited()
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as r:  # noqa: S310
                    if r.status == 200:
                        return self
            except OSError:  # 503 (HTTPError) while recovering, or not listening yet
                pass
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready in {timeout_s}s:\n{self.log_tail()}")

    def metrics_text(self) -> str:
        """The worker's ``/metrics`` page; a worker that has exited, or refuses connections
        while it runs (stopping after a crash), says why: its log's tail is in the error."""
        try:
            with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:  # noqa: S310
                return str(r.read().decode())
        except OSError as exc:
            if self.process is not None and self.process.poll() is not None:
                raise self.exited() from exc
            if isinstance(getattr(exc, "reason", exc), ConnectionRefusedError):
                # Alive but not listening: stopping after a crash, its log says why.
                raise ConnectionRefusedError(
                    f"worker {self.url} refused /metrics while running:\n{self.log_tail()}"
                ) from exc
            raise

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of metric ``name`` whose labels include ``labels``."""
        return metric_sum(self.metrics_text(), name, **labels)

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the worker so far (VmHWM), in MiB."""
        assert self.process is not None
        return memory_mb(self.process.pid, "VmHWM")

    def kill(self) -> None:
        """SIGKILL the worker (crash test)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Stop the worker cleanly (SIGTERM, then SIGKILL after 20 s)."""
        if self.process is not None and self.process.poll() is None:
            terminate(self.process.pid, timeout_s=20)
            self.process.wait(5)


def stop_all(processes: list[subprocess.Popen[bytes] | None], timeout_s: float) -> list[int]:
    """SIGTERM every live process at once, SIGKILL whatever is left after ``timeout_s``.

    One shared deadline instead of one per process: a sequential stop with a grace period
    each is what made Ctrl-C of ``computeperf run`` take 30-45 s. Returns the pids that
    had to be killed.
    """
    live = [p for p in processes if p is not None and p.poll() is None]
    for process in live:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(p.poll() is None for p in live):
        time.sleep(0.05)
    killed = []
    for process in live:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            killed.append(process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1)
    return killed
