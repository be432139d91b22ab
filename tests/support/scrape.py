"""Scrape a real /metrics endpoint over HTTP and parse it with prometheus_client's parser."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


@dataclass
class Scrape:
    status: int
    content_type: str
    body: str

    def families(self) -> dict:
        return {f.name: f for f in text_string_to_metric_families(self.body)}

    def samples(self, name: str) -> list[Sample]:
        return [s for f in text_string_to_metric_families(self.body) for s in f.samples if s.name == name]


def scrape(url: str, accept: str | None = None, timeout: float = 5.0) -> Scrape:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return Scrape(response.status, response.headers.get("Content-Type", ""), response.read().decode())
