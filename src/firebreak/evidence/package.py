"""Evidence packages: a zip that proves itself, written here and checked offline by :func:`verify_package`.

Layout (``firebreak-evidence-package/1``)::

    manifest.json        what the package holds: every other file with its SHA-256 and size, the records, the scope,
                         who exported it and why, and the audit chain's head when it was exported
    signature.ed25519    base64 of the Ed25519 signature over manifest.json's exact bytes
    public_key.pem       the signing key's public half (compare its fingerprint with one published out of band)
    custody.json         the audit events about these records, each with its chain hash
    media/<sha256>.<ext> the preserved files, decrypted
    context/<uid>.json   each record's context: placements, sender, chat, forward chain, matches, decisions, statements
    README.txt           how to check the package

Checking needs no database and no network: the signature proves manifest.json, and manifest.json proves every other
file by hash. A file that was changed, removed or added is named; so is a wrong or missing signature. Each custody
event's hash is recomputed, and ``audit_head`` can be compared with ``firebreak audit verify --expect-head`` on the
live system (the chain from that head back to the start must still verify).
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from firebreak.audit.service import event_hash
from firebreak.evidence.sealing import fingerprint, public_pem

FORMAT = "firebreak-evidence-package/1"
MANIFEST = "manifest.json"
SIGNATURE = "signature.ed25519"
PUBLIC_KEY = "public_key.pem"
CUSTODY = "custody.json"
README = "README.txt"
_UNSIGNED = frozenset({MANIFEST, SIGNATURE})
_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"

_README = """Firebreak evidence package {package_id}

Exported {created_at} by {created_by} for: {reason}
Scope: {scope}

How to check it, offline:

    firebreak evidence verify {name} --public-key KEY.pem

manifest.json lists every other file with its SHA-256; signature.ed25519 is an Ed25519 signature over
manifest.json's exact bytes, made with the key whose public half is in public_key.pem
(SHA-256 fingerprint of the raw key: {fingerprint}). Compare that fingerprint with the one the platform
published. custody.json holds the audit events about these records; manifest.json's audit_head (event
#{head_seq}) can be checked against the live system with `firebreak audit verify --expect-head HASH`
run by the platform at any later time.
"""


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime(_ISO)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class CustodyEvent:
    """An audit event as the package carries it: enough to recompute its chain hash."""

    seq: int
    occurred_at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    data: str  # the canonical JSON text, exactly as chained
    prev_hash: str
    hash: str

    def recomputed_hash(self) -> str:
        return event_hash(seq=self.seq, occurred_at=datetime.strptime(self.occurred_at, _ISO).replace(tzinfo=UTC),
                          actor=self.actor, action=self.action, object_type=self.object_type,
                          object_id=self.object_id, data=self.data, prev_hash=self.prev_hash)

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "occurred_at": self.occurred_at, "actor": self.actor, "action": self.action,
                "object_type": self.object_type, "object_id": self.object_id, "data": self.data,
                "prev_hash": self.prev_hash, "hash": self.hash}


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class WrittenPackage:
    package_id: str
    files: int
    bytes: int
    manifest_sha256: str
    fingerprint: str


def write_package(
    out: BinaryIO, *, package_id: str, created_at: datetime, created_by: str, reason: str, scope: Mapping[str, Any],
    records: list[dict[str, Any]], files: Iterable[tuple[str, bytes]], custody: list[CustodyEvent],
    audit_head: tuple[int, str], signing_key: Ed25519PrivateKey, name: str = "package.zip",
) -> WrittenPackage:
    """Write a signed package to ``out``. ``files`` are the media and context files (path, bytes), one at a time."""
    public = signing_key.public_key()
    print_ = fingerprint(public)
    listed: dict[str, dict[str, Any]] = {}
    total = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        def add(path: str, data: bytes) -> None:
            nonlocal total
            if path in listed or path in _UNSIGNED:
                raise ValueError(f"{path} is in the package twice")
            archive.writestr(path, data)
            listed[path] = {"sha256": sha256_hex(data), "bytes": len(data)}
            total += len(data)

        for path, data in files:
            add(path, data)
        add(CUSTODY, _json_bytes({"events": [e.as_json() for e in custody],
                                  "audit_head": {"seq": audit_head[0], "hash": audit_head[1]}}))
        add(PUBLIC_KEY, public_pem(public))
        add(README, _README.format(package_id=package_id, created_at=iso(created_at), created_by=created_by,
                                   reason=reason, scope=json.dumps(dict(scope), sort_keys=True), name=name,
                                   fingerprint=print_, head_seq=audit_head[0]).encode())
        manifest = _json_bytes({
            "format": FORMAT, "package_id": package_id, "created_at": iso(created_at), "created_by": created_by,
            "reason": reason, "scope": dict(scope), "records": records,
            "audit_head": {"seq": audit_head[0], "hash": audit_head[1]},
            "signing_key_sha256": print_, "files": listed,
        })
        archive.writestr(MANIFEST, manifest)
        archive.writestr(SIGNATURE, base64.b64encode(signing_key.sign(manifest)) + b"\n")
    return WrittenPackage(package_id, len(listed) + 2, total + len(manifest), sha256_hex(manifest), print_)


# -- checking ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    kind: str  # altered, missing, added, signature, custody, unreadable
    path: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.upper():<9} {self.path}: {self.detail}"


@dataclass
class VerifyReport:
    problems: list[Problem] = field(default_factory=list)
    package_id: str | None = None
    scope: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    created_by: str | None = None
    reason: str | None = None
    audit_head: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    files_checked: int = 0
    custody_events: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, path: str, detail: str) -> None:
        self.problems.append(Problem(kind, path, detail))

    def named(self, kind: str) -> list[str]:
        return [p.path for p in self.problems if p.kind == kind]


def _load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def verify_package(path: Path | BinaryIO, *, public_key_pem: bytes | None = None) -> VerifyReport:
    """Check a package offline and name every file that was altered, is missing or was added, and a wrong or
    missing signature. ``public_key_pem`` is the key the package must be signed with (else its own public_key.pem,
    which proves only that the package is whole: compare the fingerprint with the published one)."""
    report = VerifyReport()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        report.add("unreadable", str(getattr(path, "name", path)), f"not a readable zip archive ({exc})")
        return report
    with archive:
        names = [info.filename for info in archive.infolist()]
        for name, count in Counter(names).items():
            if count > 1:
                report.add("added", name, f"appears {count} times in the archive; only one was packed")

        def read(name: str) -> bytes | None:
            try:
                return archive.read(name)
            except KeyError:
                return None
            except Exception as exc:  # noqa: BLE001 - a damaged member: CRC error, bad compressed data, ...
                report.add("altered", name, f"the archive's own checksum for this file fails ({exc}): changed "
                                            "after packing")
                return b""

        manifest_bytes = read(MANIFEST)
        if manifest_bytes is None:
            report.add("missing", MANIFEST, "no manifest: nothing in this package can be checked")
            return report
        try:
            manifest = json.loads(manifest_bytes)
            listed: dict[str, dict[str, Any]] = dict(manifest["files"])
            if manifest.get("format") != FORMAT:
                raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT!r}")
        except (ValueError, KeyError, TypeError) as exc:
            report.add("altered", MANIFEST, f"not a valid manifest ({exc})")
            return report
        report.package_id = manifest.get("package_id")
        report.scope = dict(manifest.get("scope") or {})
        report.created_at, report.created_by = manifest.get("created_at"), manifest.get("created_by")
        report.reason = manifest.get("reason")
        report.audit_head = dict(manifest.get("audit_head") or {})

        _check_signature(report, manifest, manifest_bytes, read(SIGNATURE), read(PUBLIC_KEY), public_key_pem)

        for name, expected in sorted(listed.items()):
            data = read(name)
            if data is None:
                report.add("missing", name, f"listed in the manifest ({expected.get('bytes')} bytes) but not in the "
                                            "package")
                continue
            report.files_checked += 1
            actual = sha256_hex(data)
            if actual != expected.get("sha256") and not any(p.path == name for p in report.problems):
                report.add("altered", name, f"SHA-256 is {actual[:16]}..., the manifest says "
                                            f"{str(expected.get('sha256'))[:16]}... ({len(data)} bytes, "
                                            f"{expected.get('bytes')} packed)")
        for name in sorted(set(names) - set(listed) - _UNSIGNED):
            report.add("added", name, "not listed in the manifest: added after packing")

        custody = read(CUSTODY)
        if custody and CUSTODY not in report.named("altered"):
            _check_custody(report, custody)
    return report


def _check_signature(report: VerifyReport, manifest: dict[str, Any], manifest_bytes: bytes, signature: bytes | None,
                     packed_key: bytes | None, given_key: bytes | None) -> None:
    if signature is None:
        report.add("signature", SIGNATURE, "missing: the manifest is unsigned")
        return
    key_pem = given_key if given_key is not None else packed_key
    if key_pem is None:
        report.add("signature", PUBLIC_KEY, "no public key in the package and none given (--public-key)")
        return
    try:
        key = _load_public_key(key_pem)
    except ValueError as exc:
        report.add("signature", PUBLIC_KEY if given_key is None else "--public-key", f"unusable public key ({exc})")
        return
    report.fingerprint = fingerprint(key)
    if given_key is not None and packed_key is not None:
        try:
            packed_print = fingerprint(_load_public_key(packed_key))
        except ValueError:
            packed_print = "unreadable"
        if packed_print != report.fingerprint:
            report.add("signature", PUBLIC_KEY, f"the package carries another public key ({packed_print[:16]}...) "
                                                "than the one given")
    if manifest.get("signing_key_sha256") != report.fingerprint:
        named = str(manifest.get("signing_key_sha256"))[:16]
        report.add("signature", MANIFEST, f"the manifest names signing key {named}..., but the key used is "
                                          f"{report.fingerprint[:16]}...")
    try:
        key.verify(base64.b64decode(signature.strip(), validate=True), manifest_bytes)
    except (InvalidSignature, ValueError):
        report.add("signature", SIGNATURE, "does not match manifest.json under this key: the manifest was changed "
                                           "after signing, or it was signed by another key")


def _check_custody(report: VerifyReport, custody_bytes: bytes) -> None:
    try:
        custody = json.loads(custody_bytes)
        events = [CustodyEvent(**e) for e in custody["events"]]
    except (ValueError, KeyError, TypeError) as exc:
        report.add("custody", CUSTODY, f"not readable ({exc})")
        return
    report.custody_events = len(events)
    for event in events:
        if event.recomputed_hash() != event.hash:
            report.add("custody", CUSTODY, f"audit event #{event.seq} ({event.action}) does not hash to its recorded "
                                           "hash")
    head = custody.get("audit_head") or {}
    if head != report.audit_head:
        report.add("custody", CUSTODY, "its audit head differs from the manifest's")
    elif events and events[-1].seq == head.get("seq") and events[-1].hash != head.get("hash"):
        report.add("custody", CUSTODY, "the last event is the head, but its hash is not the head's")
