"""Flow helpers for the LUKHΛS core: memory, consciousness (reflection, dream) and identity (tiered auth).

Each helper is the seed-003 wiring in one call — span, latency histogram, counters — built only on catalog handles
(:func:`lukhas_obs.metric`) and :mod:`lukhas_obs.spans`. Services import the module for their area::

    from lukhas_obs.flows import consciousness, identity, memory
"""

from __future__ import annotations

from lukhas_obs.flows import consciousness, identity, memory

__all__ = ["consciousness", "identity", "memory"]
