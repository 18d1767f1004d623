"""`stream-app doctor`: why a streaming function's container does not stream, in words with the fix.

Each check is a pure function from facts (the configuration, the environment, what a probe saw) to
`Finding`s; the probes (binding UDP ports, a STUN binding, a TURN allocation, HTTP requests to a
running stream app) are thin I/O around them. `command.main` runs them all and prints one line per
finding (or JSON); see docs/troubleshooting.md.
"""

from stream_app.doctor.findings import Finding, Status

__all__ = ["Finding", "Status"]
