"""``python -m lukhas_obs_examples.lukhas_core [options]``: same as ``lukhas-obs demo --system lukhas_core``."""

from __future__ import annotations

import sys

from lukhas_obs.cli import main

if __name__ == "__main__":
    sys.exit(main(["demo", "--system", "lukhas_core", *sys.argv[1:]]))
