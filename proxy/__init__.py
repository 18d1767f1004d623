"""The intermediary proxy between the browser and NVCF's streaming relay.

It checks the user's token, adds the NVCF API key and the streaming function id to an upstream
WebSocket handshake, and then moves messages both ways without reading them. The wire contract is
`docs/protocol.md` sections 1 and 2; how to run it is `docs/proxy.md`.

This module imports nothing so that `proxy.bridge` stays cheap to import for the local relay.
"""
