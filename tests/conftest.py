"""Shared pytest setup: hypothesis profiles.

The "ci" profile (selected by HYPOTHESIS_PROFILE=ci, as .ci/run does) has no deadline and a bounded
number of examples, so a slow or busy machine never makes a test flaky. The "dev" profile, the default,
is the same with fewer examples for a fast edit-test loop.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
