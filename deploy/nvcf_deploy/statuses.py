"""What each function-version status means, and which ones `status --wait` stops at.

The statuses and their transitions are NVCF's (NVIDIA/nvcf nvcf-core: ``FunctionStatus`` and
``docs/FunctionStatusLifeCycle.md``; DELETED is the ngc CLI's listing of deleted versions).
docs/deploy.md shows the same table.
"""

from __future__ import annotations

MEANINGS: dict[str, str] = {
    "INACTIVE": "not deployed (or a graceful undeploy is letting its sessions finish); deploy it to run it",
    "DEPLOYING": "instances are starting; not every deployment specification has its minInstances ready yet",
    "ACTIVE": "every deployment specification has its minInstances ready; sessions are routed to it",
    "DEGRADING": "was ACTIVE, now below minInstances; sessions still go to the ready instances while the others "
    "are replaced",
    "DEGRADED": "was ACTIVE, now no instance is ready and no session is routed; instances are being replaced: "
    "see `nvcf-deploy logs` and your container's logs",
    "ERROR": "every instance failed before it became ready; final: undeploy, fix the cause (below), deploy again",
    "DELETED": "the version has been deleted",
}

# Statuses that will not turn into ACTIVE by waiting; `status --wait` and `up` end there.
FINAL = frozenset({"ACTIVE", "ERROR", "DEGRADED", "INACTIVE", "DELETED"})
SUCCESS = "ACTIVE"


def meaning(status: str) -> str:
    """The status explained in one line (an unknown status is shown as NVCF sent it)."""
    return MEANINGS.get(status, "a status nvcf-deploy does not know; see NVCF's documentation")
