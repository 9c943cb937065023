"""What people read for the order's stored values (statuses, outcomes, channels), marked for translation.

Templates show them with the ``t`` filter (``{{ labels.status[order.status] | t }}``); mails through a
:class:`~firebreak.core.i18n.Translator`.
"""

from __future__ import annotations

from types import MappingProxyType

from firebreak.core.i18n import N_
from firebreak.orders.models import Channel, ItemKind, ItemOutcome, ItemResolution, OrderStatus

STATUS = MappingProxyType({
    OrderStatus.RECEIVED: N_("received, waiting for verification"),
    OrderStatus.VERIFIED: N_("verified, waiting for action"),
    OrderStatus.IN_PROGRESS: N_("in progress"),
    OrderStatus.COMPLETED: N_("completed"),
    OrderStatus.PARTIALLY_COMPLETED: N_("partially completed"),
    OrderStatus.REJECTED: N_("rejected"),
    OrderStatus.WITHDRAWN: N_("withdrawn"),
})
RESOLUTION = MappingProxyType({
    ItemResolution.PENDING: N_("not yet looked up"),
    ItemResolution.FOUND: N_("recognised"),
    ItemResolution.ALREADY_REMOVED: N_("already removed"),
    ItemResolution.NOT_FOUND: N_("not found on the platform"),
    ItemResolution.NOT_RESOLVABLE: N_("not resolvable"),
})
OUTCOME = MappingProxyType({
    ItemOutcome.PENDING: N_("pending"),
    ItemOutcome.REMOVED: N_("removed"),
    ItemOutcome.GEO_RESTRICTED: N_("restricted in the named countries"),
    ItemOutcome.ALREADY_REMOVED: N_("already removed"),
    ItemOutcome.NOT_FOUND: N_("not found"),
    ItemOutcome.DECLINED: N_("declined"),
})
CHANNEL = MappingProxyType({
    Channel.API: N_("API"),
    Channel.PORTAL: N_("portal"),
    Channel.EMAIL: N_("e-mail"),
})
KIND = MappingProxyType({
    ItemKind.MESSAGE_LINK: N_("message link"),
    ItemKind.CHAT_LINK: N_("chat link"),
    ItemKind.MEDIA: N_("file"),
    ItemKind.HASH: N_("hash"),
})
FOLLOW_UP = MappingProxyType({
    "restrict_account": N_("account restricted"),
    "suspend_account": N_("account suspended"),
    "suspend_chat": N_("chat suspended"),
})
ACTION_STATUS = MappingProxyType({
    "pending": N_("pending"), "done": N_("done"), "failed": N_("failed"), "not_found": N_("not found"),
})


def as_context() -> dict[str, object]:
    """For templates: ``labels.status``, ``labels.outcome``, ... and ``labels.category``."""
    from firebreak.authorities.taxonomy import CATEGORIES

    return {"status": STATUS, "resolution": RESOLUTION, "outcome": OUTCOME, "channel": CHANNEL, "kind": KIND,
            "follow_up": FOLLOW_UP, "action_status": ACTION_STATUS,
            "category": {name: c.label for name, c in CATEGORIES.items()}}
