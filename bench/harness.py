"""The benchmark's moving parts besides the server: receiver and load-generator processes, what
/proc says about a process, and an optional py-spy recording of the server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

HERE = Path(__file__).resolve().parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The packages whose versions move a figure: printed with every run, so two runs can be compared
# knowing whether they ran the same code (scripts/install installs them from requirements/dev.lock).
_MEASURED_PACKAGES = ("wahooks-server", "uvicorn", "uvloop", "httptools", "fastapi", "starlette",
                      "orjson", "asyncpg", "aiohttp", "httpx", "websockets")


def versions_line() -> str:
    """`versions: Python 3.11.2, wahooks-server 0.1.0, uvicorn 0.30.1, ...` for a report."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in _MEASURED_PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} absent")
    return f"versions: Python {sys.version.split()[0]}, " + ", ".join(found)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def run_queue_seconds(pid: int) -> float:
    """Seconds the process's live threads spent runnable but waiting for a CPU (schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
    return total / 1e9


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot, whoever spent them."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    return _status_field(pid, "VmHWM") / 1024


def thread_count(pid: int) -> int:
    return int(_status_field(pid, "Threads"))


def _status_field(pid: int, name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return float(line.split()[1])
    return float("nan")


def fresh_file(folder: Path, stem: str, suffix: str) -> Path:
    """folder/stem.suffix, or stem-2, stem-3, ... when taken: each run of a case (rounds, this
    checkout and a baseline) gets a database of its own."""
    path, n = folder / f"{stem}{suffix}", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}{suffix}"
    return path


def stop_process(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


class ReceiverProcess:
    """bench/receiver.py in its own process, driven through its control API."""

    def __init__(self, *, hang: bool = False, ports: int = 1) -> None:
        self.hang = hang
        self.ports = [0] * ports  # each port is an origin of its own to wahooks
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._control: httpx.Client | None = None

    def start(self) -> ReceiverProcess:
        command = [sys.executable, str(HERE / "receiver.py"), "--ports", str(len(self.ports))]
        command += ["--hang"] if self.hang else []
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        if not line.startswith("PORT "):
            stop_process(self.process)
            raise RuntimeError(f"receiver did not start: {line!r}")
        self.ports = [int(port) for port in line.split()[1:]]
        self.port = self.ports[0]
        self._control = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def url(self, path: str, origin: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[origin]}{path}"

    def track(self, path: str, secret: str) -> None:
        self._post("/_control/track", {"path": path, "secret": secret})

    def set_down(self, down: bool) -> int:
        """Take the receiver down (it holds every request) or bring it back (it answers the held
        requests still open, then all); how many held requests it answered."""
        released: int = self._post("/_control/down", {"down": down})["released"]
        return released

    def count(self, prefix: str) -> dict[str, int]:
        counts: dict[str, int] = self._get("/_control/count", prefix)
        return counts

    def stats(self, prefix: str) -> dict[str, Any]:
        stats: dict[str, Any] = self._get("/_control/stats", prefix)
        return stats

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        assert self._control is not None
        response = self._control.post(path, content=orjson.dumps(body))
        response.raise_for_status()
        return response.json()

    def _get(self, path: str, prefix: str) -> Any:
        assert self._control is not None
        response = self._control.get(path, params={"prefix": prefix})
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
        if self.process is not None:
            stop_process(self.process)


def run_loadgen(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    """bench/loadgen.py in its own process, so it does not share the bench's interpreter."""
    done = subprocess.run(
        [sys.executable, str(HERE / "loadgen.py")], input=orjson.dumps(job),
        capture_output=True, timeout=timeout, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout)
    return result


class Profiler:
    """`py-spy record` on a running process, stopped with SIGINT so it writes what it has."""

    RATE = 100

    def __init__(
        self, pid: int, output: Path, *, blocking: bool = False, gil: bool = False
    ) -> None:
        self.output = output
        self.started = time.monotonic()
        self.duration = 0.0
        executable = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        if executable is None:
            raise RuntimeError("py-spy not found: .venv/bin/pip install py-spy")
        self._process = subprocess.Popen(
            # Non-blocking by default: pausing the server for each sample (py-spy's default)
            # slowed it 5x here. The price: some stacks are read half-updated and lose their
            # outer frames, so inclusive shares undercount; `blocking` gets whole stacks.
            [executable, "record", "--format", "raw", "--threads",
             *([] if blocking else ["--nonblocking"]),
             # With `gil`, only the thread holding the GIL is sampled: where the interpreter's
             # one core goes, which is what caps a process's rate.
             *(["--gil"] if gil else []),
             "-r", str(self.RATE), "-o", str(output), "-p", str(pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        self.duration = time.monotonic() - self.started
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
