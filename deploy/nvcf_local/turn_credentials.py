"""Short-lived TURN credentials in coturn's REST scheme (``--use-auth-secret --static-auth-secret``).

The user name is ``<expiry>:<id>`` (expiry in Unix seconds) and the password is the base64 of the
HMAC-SHA1 of that user name keyed with the shared secret. coturn recomputes the password from the
secret and refuses a user name whose expiry has passed, so nvcf-local never has to tell coturn
about an instance, and credentials that leak from one instance stop working on their own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TurnCredentials:
    """What ``POST /v1/streaming/creds`` carries besides the server address."""

    username: str
    password: str = field(repr=False)


def rest_credentials(secret: str, holder: str, *, now: float, ttl: float) -> TurnCredentials:
    """Credentials for `holder` (an instance id) valid until ``now + ttl`` (Unix seconds)."""
    if ":" in holder:
        raise ValueError("the credential holder's id may not contain ':'")
    username = f"{int(now + ttl)}:{holder}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredentials(username=username, password=base64.b64encode(digest).decode("ascii"))
