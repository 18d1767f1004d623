"""What the tests share: real servers and clients to run, and helpers to watch them.

Each module starts something real on loopback (coturn, nvcf-local, the proxy, a stream app, a
browser) or talks to it the way a user's client would; `tests/conftest.py` turns some of them
into fixtures.
"""
