"""The benchmark suite (`make bench`): glass-to-glass latency, time to first frame, input latency,
proxy overhead and encoder cost, written to `benchmarks/results/` as JSON and a Markdown report.

Benchmarks are not tests: they measure and report, they never fail on a slow number. Each
benchmark is a module with ``async def run(ctx) -> dict`` returning one JSON-able section of the
results (see `benchmarks.results` for the schema).
"""
