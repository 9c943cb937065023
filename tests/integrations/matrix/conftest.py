"""A real Synapse homeserver with the Firebreak module, talking to a loopback stand-in for Firebreak."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from firebreak.integrations.matrix.adapter import MatrixAdapter
from tests.integrations.matrix.fake_firebreak import INTEGRATION, SECRET, FakeFirebreak, png
from tests.integrations.matrix.harness import MatrixUser, SynapseServer, start_synapse

_UNIQUE = itertools.count(1)


@pytest.fixture(scope="session")
def firebreak() -> Iterator[FakeFirebreak]:
    fake = FakeFirebreak()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory, firebreak: FakeFirebreak) -> Iterator[SynapseServer]:
    server = start_synapse(tmp_path_factory.mktemp("synapse"), firebreak.url, INTEGRATION, SECRET,
                           fail_open=True, timeout=2.0, event_retry_delay=1.0)
    yield server
    server.close()


@pytest.fixture
def new_user(synapse: SynapseServer) -> Callable[[str], MatrixUser]:
    """Registers a fresh user whose display name is ``name`` capitalised."""
    return lambda name: synapse.register_user(f"{name}-{next(_UNIQUE)}", displayname=name.capitalize())


@pytest.fixture
def fresh_png() -> Callable[[], bytes]:
    """A PNG no other test in the session uploaded."""
    return lambda: png(next(_UNIQUE))


@pytest.fixture
def adapter(synapse: SynapseServer) -> Iterator[MatrixAdapter]:
    with MatrixAdapter(synapse.adapter_config()) as matrix:
        yield matrix
