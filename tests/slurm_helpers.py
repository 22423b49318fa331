"""A real one-node SLURM for the tests: started by scripts/slurm/one-node.sh, stopped after.

The cluster's state (munge key and socket, slurm.conf, spool, logs) lives in a temporary
folder; clients (`sbatch` as dask-jobqueue calls it, `squeue`/`scancel` in the tests) find
it through SLURM_CONF. Skips, saying why, where SLURM cannot run (not root, no packages);
CI installs them (`make test`), so there it runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "slurm" / "one-node.sh"
CANNOT_START = 3  # the script's exit code for "not root" or "packages missing"


@dataclass(frozen=True)
class Slurm:
    state: Path
    conf: Path

    def run(self, *args: str) -> str:
        """A SLURM client command against this cluster (squeue, scancel, sinfo)."""
        done = subprocess.run(
            args, capture_output=True, text=True, check=True, timeout=30,
            env={**os.environ, "SLURM_CONF": str(self.conf)},
        )  # fmt: skip
        return done.stdout

    @property
    def memory_mb(self) -> int:
        """What the node offers jobs (RealMemory in slurm.conf)."""
        text = self.conf.read_text(encoding="utf-8")
        return int(text.split("RealMemory=", 1)[1].split()[0])

    def jobs(self, *states: str) -> list[str]:
        """Job ids in the queue (in `states`, e.g. "R"; all if none given)."""
        args = ["squeue", "-h", "-o", "%i"] + (["-t", ",".join(states)] if states else [])
        return self.run(*args).split()


@pytest.fixture(scope="session", name="slurm")
def slurm_fixture() -> Iterator[Slurm]:
    # Not under pytest's own temporary folder: /tmp/pytest-of-root is private to root, and
    # munged runs as `munge`, which must reach its key and socket.
    state = Path(tempfile.mkdtemp(prefix="grader-slurm-"))
    state.chmod(0o755)
    started = subprocess.run(
        [str(SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=120
    )
    if started.returncode != 0:
        shutil.rmtree(state, ignore_errors=True)
        if started.returncode == CANNOT_START:
            pytest.skip(f"no one-node SLURM here: {started.stderr.strip()}")
        pytest.fail(f"one-node SLURM did not start: {started.stderr.strip()}")
    conf = state / "slurm.conf"
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)  # dask-jobqueue's sbatch/scancel inherit it
    try:
        yield Slurm(state, conf)
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        subprocess.run([str(SCRIPT), "stop", str(state)], check=False, timeout=60)
        shutil.rmtree(state, ignore_errors=True)
