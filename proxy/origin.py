"""The `Origin` check that stops Cross-Site WebSocket Hijacking (a page elsewhere opening
`/sign_in` with the user's cookies).

With no allow-list configured only the proxy's own origin is allowed: the Origin's host and port
must equal the `Host` header (the scheme is not compared, because a TLS-terminating load balancer
in front of the proxy makes the browser say https while the proxy sees http). Requests without an
Origin come from non-browser clients, which could forge one anyway, and are allowed. Pure: the
door middleware (`proxy.door`) passes the headers in.
"""

from __future__ import annotations

from collections.abc import Sequence

from yarl import URL

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _netloc(url: URL) -> str | None:
    if url.scheme not in _DEFAULT_PORTS or not url.host:
        return None
    port = "" if url.port in (None, _DEFAULT_PORTS[url.scheme]) else f":{url.port}"
    return f"{url.host.lower()}{port}"


def normal_origin(text: str) -> str | None:
    """`scheme://host[:port]` in lower case without a default port, or None if not an origin."""
    try:
        url = URL(text.strip())
    except ValueError:
        return None
    netloc = _netloc(url)
    return None if netloc is None else f"{url.scheme}://{netloc}"


def origin_allowed(origins: Sequence[str], host: str, allowed: Sequence[str]) -> bool:
    """True when a request with these `Origin` headers and this `Host` may open a session.

    `allowed` is the configured allow-list (empty: the proxy's own origin only; `*`: any).
    """
    if not origins:
        return True
    if len(origins) > 1:
        return False
    if "*" in allowed:
        return True
    origin = normal_origin(origins[0])
    if origin is None:  # Includes `null` (sandboxed frames, file:// pages).
        return False
    if allowed:
        return origin in allowed
    host = host.strip().lower()
    own = normal_origin(f"http://{host}"), normal_origin(f"https://{host}")
    return origin in own
