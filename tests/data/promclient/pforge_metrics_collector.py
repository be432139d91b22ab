# Seed 002 (pForge), metrics_collector.py example: lines 35-41 of /work/shared/seeds/002_b5c7b61dfeaea6e5.txt,
# copied exactly (markdown list indentation removed) below this header (a test fixture of `lukhas-obs catalog
# import`; do not edit).
# ruff: noqa
# In metrics_collector.py
from prometheus_client import Gauge, Counter

PFORGE_EFFICIENCY = Gauge("pforge_efficiency", "Global puzzle efficiency score (E)")
PFORGE_ENTROPY = Gauge("pforge_entropy", "System entropy score (H)")
PFORGE_AGENTS_ACTIVE = Gauge("pforge_agents_active", "Number of active agents", ["agent_type"])
PFORGE_TOKENS_USED_TOTAL = Counter("pforge_tokens_used_total", "Tokens used", ["vendor"])
