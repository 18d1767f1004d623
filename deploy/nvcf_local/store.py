"""nvcf-local's state in SQLite: function versions (their definitions) and their deployments.

A restart of nvcf-local reads everything back and deploys again what was deployed, so nothing a
user created with nvcf-deploy is lost. Without a file (``--state``) the database lives in memory.
The calls are synchronous: each is one small statement on a local file, far below a millisecond.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS function_versions (
    function_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (function_id, version_id)
);
CREATE TABLE IF NOT EXISTS deployments (
    function_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    specifications TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (function_id, version_id),
    FOREIGN KEY (function_id, version_id) REFERENCES function_versions ON DELETE CASCADE
);
"""


class StateError(RuntimeError):
    """The state file cannot be opened or is not nvcf-local's."""


@dataclass(frozen=True)
class StoredVersion:
    """A function version as created: ids, name, the create-function body, creation time."""

    function_id: str
    version_id: str
    name: str
    definition: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class StoredDeployment:
    """A deployment: its version's ids, ``deploymentSpecifications`` as sent, creation time."""

    function_id: str
    version_id: str
    specifications: list[dict[str, Any]]
    created_at: str


class Store:
    """Function versions and deployments, in a SQLite file or in memory."""

    def __init__(self, path: Path | None) -> None:
        try:
            self._db = sqlite3.connect(str(path) if path is not None else ":memory:", isolation_level=None)
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StateError(f"state file {path}: {exc}") from None

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def add_version(self, version: StoredVersion) -> None:
        """Insert (or replace) a function version."""
        self._db.execute(
            "INSERT OR REPLACE INTO function_versions VALUES (?, ?, ?, ?, ?)",
            (version.function_id, version.version_id, version.name, json.dumps(version.definition), version.created_at),
        )

    def versions(self, function_id: str | None = None) -> list[StoredVersion]:
        """Every version (of one function), oldest first."""
        query = "SELECT function_id, version_id, name, definition, created_at FROM function_versions"
        rows = (
            self._db.execute(query + " WHERE function_id = ? ORDER BY rowid", (function_id,))
            if function_id is not None
            else self._db.execute(query + " ORDER BY rowid")
        )
        return [StoredVersion(row[0], row[1], row[2], json.loads(row[3]), row[4]) for row in rows]

    def version(self, function_id: str, version_id: str) -> StoredVersion | None:
        """One version, or None."""
        return next((v for v in self.versions(function_id) if v.version_id == version_id), None)

    def delete_version(self, function_id: str, version_id: str) -> None:
        """Delete a version and its deployment."""
        self._db.execute(
            "DELETE FROM function_versions WHERE function_id = ? AND version_id = ?", (function_id, version_id)
        )

    def set_deployment(self, deployment: StoredDeployment) -> None:
        """Insert (or replace) a deployment."""
        self._db.execute(
            "INSERT OR REPLACE INTO deployments VALUES (?, ?, ?, ?)",
            (
                deployment.function_id,
                deployment.version_id,
                json.dumps(deployment.specifications),
                deployment.created_at,
            ),
        )

    def deployments(self) -> list[StoredDeployment]:
        """Every deployment, oldest first."""
        rows = self._db.execute(
            "SELECT function_id, version_id, specifications, created_at FROM deployments ORDER BY rowid"
        )
        return [StoredDeployment(row[0], row[1], json.loads(row[2]), row[3]) for row in rows]

    def delete_deployment(self, function_id: str, version_id: str) -> None:
        """Forget a deployment (the version stays)."""
        self._db.execute("DELETE FROM deployments WHERE function_id = ? AND version_id = ?", (function_id, version_id))
