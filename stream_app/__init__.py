"""The streaming function's container app: NVCF's control server and a WebRTC streaming server."""
