"""Shared test fixtures: free loopback ports, a real coturn, a real nvcf-local running the stream app.

Everything here runs real processes bound to 127.0.0.1 and cleans up after itself. What the
fixtures start, and the helpers tests import, live in the `support` package beside this file.

Fixtures:

- `coturn`: a running coturn with random long-term credentials (`deploy.coturn.RunningCoturn`:
  ``host``, ``port``, ``user``, ``password``, ``realm``, ``pid``).
- `definition_factory`: writes a copy of the test-pattern function definition with free control
  and streaming ports (so tests never collide with a running ``make demo``), optionally edited.
- `http`: an aiohttp client session; `app`: a stream app running in the test's event loop
  (`support.stream_app_harness.running_stream_app`).
- `nvcf_local_factory` / `nvcf_local`: nvcf-local as a real process (``python -m deploy.nvcf_local``)
  running the real stream app, pushing `coturn`'s credentials; `nvcf_local` is already ACTIVE.

For fixtures of a wider scope, `support.services` has `running_coturn`, `write_definition` and
`running_nvcf_local`: the same things as async context managers.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from support.proxy_harness import Upstream
from support.services import (
    DefinitionFactory,
    LocalDefinition,
    NvcfLocalFactory,
    RunningNvcfLocal,
    running_coturn,
    running_nvcf_local,
    write_definition,
)
from support.stream_app_harness import RunningStreamApp, running_stream_app

from deploy.coturn import RunningCoturn


@pytest.fixture
async def coturn() -> AsyncIterator[RunningCoturn]:
    """A running coturn for one test: ``host``, ``port``, ``user``, ``password``, ``realm``, ``pid``."""
    async with running_coturn() as running:
        yield running


@pytest.fixture
def definition_factory(tmp_path: Path) -> DefinitionFactory:
    """``make(edit=None, name="function.json")``: `write_definition` into the test's tmp_path."""
    return functools.partial(write_definition, tmp_path)


@pytest.fixture
async def nvcf_local_factory(
    coturn: RunningCoturn, definition_factory: DefinitionFactory
) -> AsyncIterator[NvcfLocalFactory]:
    """``await start(definition=None, extra_args=(), env=None)``: `running_nvcf_local` for one test.

    Uses `coturn` and, by default, a fresh definition with free ports; everything started is
    stopped after the test.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            definition: LocalDefinition | None = None,
            extra_args: tuple[str, ...] = (),
            env: dict[str, str] | None = None,
        ) -> RunningNvcfLocal:
            return await stack.enter_async_context(
                running_nvcf_local(coturn, definition or definition_factory(), extra_args, env)
            )

        yield start


@pytest.fixture
async def nvcf_local(nvcf_local_factory: NvcfLocalFactory) -> RunningNvcfLocal:
    """nvcf-local running the stream app, already ACTIVE (healthy, credentials pushed)."""
    running = await nvcf_local_factory()
    await running.wait_for_status("ACTIVE")
    return running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP/WebSocket client for one test."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def app() -> AsyncIterator[RunningStreamApp]:
    """A stream app (control and streaming servers) running in the test's event loop on loopback."""
    async with running_stream_app() as running:
        yield running


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    """A relay stand-in on loopback for the proxy tests (proxy_harness.Upstream)."""
    server = Upstream()
    await server.server.start_server()
    yield server
    await server.server.close()
