"""The Prometheus metrics every compiled notebook template carries (``metrics.prometheus``):
how long its steps take and how their attempts end, by template. Argo's controller exposes
them on a cluster; the local engine records them too (``nbflow metrics RUN``)."""

from __future__ import annotations

from typing import Any

__all__ = ["step_metrics", "DURATION_BUCKETS_S"]

# From a quick cell to a long training run.
DURATION_BUCKETS_S = [1, 5, 15, 60, 300, 900, 3600, 14400]


def step_metrics(template: str) -> dict[str, Any]:
    """The ``metrics`` block of the notebook template called ``template``."""
    labels = [{"key": "template", "value": template}, {"key": "status", "value": "{{status}}"}]
    return {
        "prometheus": [
            {
                "name": "nbflow_step_duration_seconds",
                "help": "Duration of nbflow notebook steps (each attempt), by template and end",
                "labels": labels,
                "histogram": {"value": "{{duration}}", "buckets": DURATION_BUCKETS_S},
            },
            {
                "name": "nbflow_step_attempts_total",
                "help": "Attempts of nbflow notebook steps, by template and end; attempts "
                "beyond one per step are retries",
                "labels": labels,
                "counter": {"value": "1"},
            },
        ]
    }
