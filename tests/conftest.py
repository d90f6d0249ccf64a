import os

from hypothesis import HealthCheck, settings

# CI runs a fixed, reproducible sample; CONVOPS_HYPOTHESIS=thorough explores further.
settings.register_profile(
    "default", max_examples=120, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile(
    "thorough", max_examples=2000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.load_profile(os.environ.get("CONVOPS_HYPOTHESIS", "default"))
