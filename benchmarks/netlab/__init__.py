"""The network lab: two network namespaces joined by a rate-capped veth pair, and a UDP impairment
relay on the browser's leg to TURN for what `tc` cannot do here (delay, jitter, loss, reordering).

See docs/network-lab.md for the topology and why it is laid out this way.
"""
