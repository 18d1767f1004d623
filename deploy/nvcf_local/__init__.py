"""nvcf-local: a stand-in for NVIDIA Cloud Functions that runs one streaming function on this machine.

It starts the function's container command as a child process with NVCF's environment, health-checks
it, pushes STUN/TURN credentials to its control server, reports its status through NVCF's
``GET /v2/nvcf/functions/{id}/versions`` and relays WebSocket sign-ins to it the way NVCF's relay
does. See docs/local-nvcf.md.
"""
