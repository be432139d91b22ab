"""``python -m lukhas_obs_examples.luna [--host H] [--port 8000]``: the seed's Flask exporter (/metrics, /health).

``lukhas-obs demo --system luna`` runs the same workload on the SDK's built-in ``/metrics`` instead.
"""

from __future__ import annotations

import sys

from lukhas_obs_examples.luna.app import main

if __name__ == "__main__":
    sys.exit(main())
