"""When things are down: Firebreak unreachable from Synapse (fail closed), and Synapse unreachable from Firebreak.

One homeserver for the file: its Firebreak URL points where nothing listens, uploads fail closed, and the module's
restrictions are switched off. The last test stops it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from firebreak.integrations.matrix.adapter import MatrixAdapter
from firebreak.platform.adapters import ActionTarget, FetchError, Outcome
from tests.integrations.matrix.fake_firebreak import png
from tests.integrations.matrix.harness import MatrixRequestError, SynapseServer, free_port, start_synapse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lonely_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynapseServer]:
    nobody = f"http://127.0.0.1:{free_port()}"
    server = start_synapse(tmp_path_factory.mktemp("synapse-lonely"), nobody, "matrix-test", "s3cret",
                           fail_open=False, timeout=2.0, module_config={"restrictions": False})
    yield server
    server.close()


def test_unreachable_firebreak_refuses_uploads_when_fail_closed(lonely_synapse: SynapseServer) -> None:
    alice = lonely_synapse.register_user("alice")
    with pytest.raises(MatrixRequestError) as refused:
        lonely_synapse.upload(alice, png(1))
    assert refused.value.status == 400
    assert lonely_synapse.log_contains("refusing media")

    # Reporting placements never holds up sending, even with Firebreak down.
    room = lonely_synapse.create_room(alice)
    started = time.monotonic()
    lonely_synapse.send_image(alice, room, "mxc://localhost/elsewhere")
    assert time.monotonic() - started < 1.0


def test_restricting_without_the_module_restrictions_says_what_is_missing(lonely_synapse: SynapseServer) -> None:
    bob = lonely_synapse.register_user("bob")
    with MatrixAdapter(lonely_synapse.adapter_config()) as matrix:
        result = matrix.restrict_account(ActionTarget(account_id=bob.user_id))
    assert (result.outcome, result.retryable) == (Outcome.FAILED, False)
    assert "module" in result.detail


def test_a_stopped_homeserver_gives_retryable_results(lonely_synapse: SynapseServer) -> None:
    carol = lonely_synapse.register_user("carol")
    room = lonely_synapse.create_room(carol)
    mxc = "mxc://localhost/somefile"
    event_id = lonely_synapse.send_image(carol, room, mxc)
    config = lonely_synapse.adapter_config(timeout=2.0)
    lonely_synapse.stop()

    with MatrixAdapter(config) as matrix:
        results = [
            matrix.remove_message(ActionTarget(chat_id=room, message_id=event_id)),
            matrix.quarantine_media(ActionTarget(media_id=mxc)),
            matrix.suspend_account(ActionTarget(account_id=carol.user_id)),
            matrix.restrict_account(ActionTarget(account_id=carol.user_id)),
            matrix.suspend_chat(ActionTarget(chat_id=room)),
            matrix.notify_user(ActionTarget(account_id=carol.user_id, reason="hello")),
        ]
        with pytest.raises(FetchError) as fetch:
            matrix.fetch_media(mxc)
    for result in results:
        assert (result.outcome, result.retryable) == (Outcome.FAILED, True), result
    assert fetch.value.retryable
