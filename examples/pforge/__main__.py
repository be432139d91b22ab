"""``PFORGE_SCRAPE_TOKEN=... python -m lukhas_obs_examples.pforge [--port 8000]``: the server, /metrics behind auth.

``lukhas-obs demo --system pforge`` runs the same workload on the SDK's built-in ``/metrics`` instead.
"""

from __future__ import annotations

import sys

from lukhas_obs_examples.pforge.app import main

if __name__ == "__main__":
    sys.exit(main())
