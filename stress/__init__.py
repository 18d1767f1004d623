"""`make stress`: bounded load, soak and abuse runs on loopback, with a report (docs/security.md).

Tooling outside the product, like `benchmarks/` (whose process helpers it reuses): nothing here
is imported by the kit itself.
"""
