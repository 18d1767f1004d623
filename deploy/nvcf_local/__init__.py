"""nvcf-local: a stand-in for NVIDIA Cloud Functions that runs streaming functions on this machine.

It serves the part of NVCF's control API that nvcf-deploy uses (state in SQLite), runs each
deployed version's instances as child processes with NVCF's environment (between minInstances and
maxInstances), health-checks them, pushes STUN/TURN credentials to their control servers, and
relays WebSocket sign-ins to them the way NVCF's relay does, resume included. See docs/local-nvcf.md.
"""
