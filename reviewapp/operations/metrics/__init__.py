"""`/metrics` for Prometheus: who may scrape it, what it shows, and the gauges beat recounts."""
