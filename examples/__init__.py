"""lukhas_obs_examples: small runnable services instrumented with lukhas-obs (installed from ``examples/``)."""
