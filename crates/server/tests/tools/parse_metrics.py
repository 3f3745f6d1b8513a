"""Parses a Prometheus text exposition (stdin) with Prometheus's own Python parser and prints
its samples as JSON: [{"family", "type", "name", "labels", "value"}]. A malformed exposition
makes the parser raise, and this script exit non-zero with its message."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        samples.append(
            {
                "family": family.name,
                "type": family.type,
                "help": family.documentation,
                "name": sample.name,
                "labels": sample.labels,
                "value": sample.value,
            }
        )
json.dump(samples, sys.stdout)
