"""Prometheus metrics declared as a table, so a daemon's metrics read as a list, not as code.

A daemon's metrics class annotates each attribute with its kind and lists the definitions by
attribute name; `register` builds them in the daemon's own registry and checks that the table and
the annotations agree, so a misspelt or missing metric fails at construction, not at first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import get_type_hints

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

Metric = Counter | Gauge | Histogram


@dataclass(frozen=True)
class MetricDefinition:
    kind: type[Metric]
    name: str
    documentation: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] | None = None  # histograms only

    def build(self, registry: CollectorRegistry) -> Metric:
        if self.buckets is None:
            return self.kind(self.name, self.documentation, self.labels, registry=registry)
        return Histogram(
            self.name, self.documentation, self.labels, buckets=self.buckets, registry=registry
        )


def register(
    owner: object, definitions: Mapping[str, MetricDefinition], registry: CollectorRegistry
) -> None:
    """Sets `owner.<attribute>` to each defined metric, built in `registry`."""
    annotated = {
        name: kind
        for name, kind in get_type_hints(type(owner)).items()
        if kind in (Counter, Gauge, Histogram)
    }
    if annotated != {name: definition.kind for name, definition in definitions.items()}:
        raise TypeError(f"{type(owner).__name__}: metric annotations and definitions differ")
    for attribute, definition in definitions.items():
        setattr(owner, attribute, definition.build(registry))
