"""A small simulated WiltonOS that keeps its state in the two JSON files the exporter reads.

Φ drifts around Φ★ = 0.75 and is steered back softly (seed 001's "Soft-Steer": small corrections, smooth
derivatives); every few hundred steps a disturbance pushes it away for a while, so the band and derivative alerts
have something to show. Each loop has its own Φ near the global one; a loop whose pressure ``|Φ_loop − Φ★|`` passes
0.02 is collapsed (its Φ snaps back towards Φ★ and ``collapse_operations`` grows). Longevity doses of a few
compounds are logged with increasing ``seq``; the log keeps the last :data:`DOSE_LOG_KEEP` entries, the totals keep
counting.

Files are written atomically (temporary file, then rename), so the exporter never reads half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from lukhas_obs.systems.wiltonos import PHI_STAR
from lukhas_obs.systems.wiltonos.statefiles import LONGEVITY_FILE, QUANTUM_FILE, loop_pressure

__all__ = ["COMPOUNDS", "DOSE_LOG_KEEP", "LOOPS", "WiltonosSimulator", "write_json_atomic"]

LOOPS = ("alpha", "beta", "gamma", "delta")
#: Compound → typical dose in mg.
COMPOUNDS = {"nmn": 250.0, "resveratrol": 500.0, "rapamycin": 6.0, "metformin": 1000.0, "spermidine": 1.0}
#: Dose log entries kept in the longevity file.
DOSE_LOG_KEEP = 200


def write_json_atomic(path: Path, document: Any) -> None:
    """Write ``document`` to ``path`` so a reader sees the old file or the new one, never a partial one."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, separators=(",", ":"))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class WiltonosSimulator:
    """One :meth:`step` = one tick of WiltonOS: Φ, the loops, collapses and maybe a dose; then both files written."""

    def __init__(self, state_dir: str | os.PathLike[str], seed: int | None = 0, dose_every: int = 7) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(seed)
        self.phi = PHI_STAR
        self.loops = {name: PHI_STAR + self.rng.uniform(-0.01, 0.01) for name in LOOPS}
        self.collapses = 0
        self.doses_total: Counter[str] = Counter()
        self.dose_log: list[dict[str, Any]] = []
        self.seq = 0
        self.dose_every = max(1, dose_every)
        self.disturbance = 0.0
        self.steps = 0

    def step(self) -> None:
        """Advance one tick and write the state files."""
        rng = self.rng
        self.steps += 1
        if self.steps % 300 == 0:  # a disturbance: Φ is pushed away and steered back over the next ticks
            self.disturbance = rng.choice((-1, 1)) * rng.uniform(0.03, 0.06)
        self.disturbance *= 0.97
        target = PHI_STAR + self.disturbance
        self.phi += 0.1 * (target - self.phi) + rng.gauss(0.0, 0.002)  # soft steer: a tenth of the gap per tick
        for name, value in self.loops.items():
            value += 0.2 * (self.phi - value) + rng.gauss(0.0, 0.004)
            if loop_pressure(value) > 0.02 and rng.random() < 0.2:
                value = PHI_STAR + 0.25 * (value - PHI_STAR)  # collapse: the loop snaps back towards Φ★
                self.collapses += 1
            self.loops[name] = value
        if self.steps % self.dose_every == 0:
            compound = rng.choice(sorted(COMPOUNDS))
            amount = round(COMPOUNDS[compound] * rng.uniform(0.5, 1.5), 3)
            self.seq += 1
            self.doses_total[compound] += 1
            self.dose_log.append({"seq": self.seq, "compound": compound, "amount": amount})
            del self.dose_log[:-DOSE_LOG_KEEP]
        self.write()

    def write(self) -> None:
        """Write both state files (atomically) from the current state."""
        write_json_atomic(
            self.state_dir / QUANTUM_FILE,
            {
                "phi": round(self.phi, 6),
                "loops": {name: round(value, 6) for name, value in self.loops.items()},
                "collapse_operations": self.collapses,
            },
        )
        write_json_atomic(
            self.state_dir / LONGEVITY_FILE,
            {"doses_total": dict(sorted(self.doses_total.items())), "doses": list(self.dose_log)},
        )
