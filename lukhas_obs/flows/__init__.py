"""The LUKHΛS core's flow helpers under their first name: memory, consciousness (reflection, dream), identity.

The helpers live with the rest of the core system in :mod:`lukhas_obs.systems.lukhas_core`; this package keeps the
documented import paths working (``from lukhas_obs.flows import memory``, ``import lukhas_obs.flows.identity``)::

    from lukhas_obs.flows import consciousness, identity, memory
"""

from __future__ import annotations

import sys

from lukhas_obs.systems.lukhas_core import consciousness, identity, memory

__all__ = ["consciousness", "identity", "memory"]

for _module in (consciousness, identity, memory):
    sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module
