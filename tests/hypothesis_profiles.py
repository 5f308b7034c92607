"""Hypothesis profiles for the property tests, chosen with an environment variable.

    python -m pytest -q tests/test_properties.py                     # "ci": hundreds per property
    BACKPROP_HYPOTHESIS_PROFILE=thorough python -m pytest -q tests/test_properties.py

"thorough" runs ten times as many examples per property (thousands) and
keeps hypothesis' example database, so a failure found once is replayed
first next time. Example counts, never wall-clock time, bound each run.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("BACKPROP_HYPOTHESIS_PROFILE", "ci")
FACTORS = {"ci": 1, "thorough": 10}
if PROFILE not in FACTORS:
    raise RuntimeError(
        f"BACKPROP_HYPOTHESIS_PROFILE={PROFILE!r}: choose one of {', '.join(FACTORS)}"
    )

# No per-example deadline: a SymPy check can take a second on a loaded machine.
_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", print_blob=True, **_COMMON)
settings.register_profile("thorough", max_examples=1_000, **_COMMON)
settings.load_profile(PROFILE)


def examples(count: int) -> int:
    """`count` examples in CI, scaled up by the selected profile."""
    return count * FACTORS[PROFILE]
