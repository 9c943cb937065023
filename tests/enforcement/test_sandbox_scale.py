"""Thousands of sandbox messages, some carrying transformed copies of one image: banking the image removes every
copy from the sandbox messenger, and nothing else."""

from __future__ import annotations

from datetime import timedelta

from PIL import Image, ImageEnhance, ImageOps
from sqlalchemy import select

from firebreak.banks import service as banks
from firebreak.banks.models import MatchAction, Provenance
from firebreak.banks.schemas import BankCreate
from firebreak.bootstrap.system import System
from firebreak.gateway.flows import InProcessLink
from firebreak.integrations.sandbox.models import MessageStatus, SandboxMessage
from firebreak.integrations.sandbox.seed import SeedChat, SeedMessage, seed
from firebreak.signals.hashing import hash_bytes
from tests.support import jpeg, photo, scene


def variants(img: Image.Image) -> list[bytes]:
    """Copies as they travel through messengers: re-encoded, resized, mirrored, turned, recoloured."""
    w, h = img.size
    out = [jpeg(img, q) for q in (95, 85, 75, 60, 45, 30)]
    out += [jpeg(img.resize((int(w * s), int(h * s)))) for s in (0.25, 0.5, 0.75, 1.5)]
    out += [jpeg(ImageOps.mirror(img)), jpeg(ImageOps.flip(img)), jpeg(img.rotate(90, expand=True)),
            jpeg(img.rotate(180)), jpeg(ImageOps.grayscale(img).convert("RGB")),
            jpeg(ImageEnhance.Brightness(img).enhance(1.2)), jpeg(ImageEnhance.Contrast(img).enhance(0.8))]
    return out


def test_thousands_of_messages_every_copy_removed_nothing_else(system: System) -> None:
    system.gateway.ensure_integration(name="sandbox", adapter="sandbox")
    target = photo("astronaut")
    copies = variants(target)
    others = [jpeg(scene(s)) for s in range(25)] + [jpeg(photo(n)) for n in ("coffee", "chelsea", "camera")]
    handles = [f"user{i}" for i in range(40)]
    chats = [SeedChat(key=f"chat{i}", members=handles[i % 8::5] or handles[:2]) for i in range(30)]
    members = {c.key: list(c.members) for c in chats}
    messages: list[SeedMessage] = []
    copy_indexes: list[int] = []
    for i in range(1200):
        chat = f"chat{i % 30}"
        sender = members[chat][i % len(members[chat])]
        if i % 2 == 0 and len(copy_indexes) >= 3 and i % 6 == 0:
            messages.append(SeedMessage(chat=chat, sender=sender, forward_of=copy_indexes[-3]))
            copy_indexes.append(len(messages) - 1)
        elif i % 2 == 0:
            messages.append(SeedMessage(chat=chat, sender=sender, media=copies[i % len(copies)], filename="x.jpg"))
            copy_indexes.append(len(messages) - 1)
        else:
            messages.append(SeedMessage(chat=chat, sender=sender, text="hello" if i % 5 == 0 else None,
                                        media=None if i % 5 == 0 else others[i % len(others)], filename="y.jpg"))
    with system.db.transaction() as session:
        seeded = seed(session=session, clock=system.clock, users=handles, chats=chats, messages=messages)
    link = InProcessLink(system.gateway)
    for event in seeded.events:
        link.submit_event("sandbox", event)
    assert len(seeded.messages) == 1200 and len(copy_indexes) == 600

    with system.db.transaction() as session:
        bank = banks.create_bank(session=session, clock=system.clock, actor="test",
                                 data=BankCreate(name="ordered", action=MatchAction.BLOCK))
        banks.add_entries(session=session, clock=system.clock, actor="test", bank=bank,
                          entries=banks.entries_for_hashes(hash_bytes(jpeg(target, 90))),
                          provenance=Provenance.ORDER, source_ref="test")
    for _ in range(3):
        system.runner.reconcile()
        system.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]

    should_go = {seeded.messages[i] for i in copy_indexes}
    with system.db.sessions() as session:
        status = {f"m{m.id}": m.status for m in session.scalars(select(SandboxMessage))}
    still_there = sorted(m for m in should_go if status[m] != MessageStatus.REMOVED)
    wrongly_removed = sorted(m for m, s in status.items() if m not in should_go and s != MessageStatus.LIVE)
    assert still_there == [] and wrongly_removed == []
