"""DKIM: authenticating the authority that sent an order, and signing what Firebreak sends back.

`verify_dkim` never raises: a mail with no signature, a broken one, an unknown key or garbage bytes all give
`valid=False` with a reason a liaison officer can read. Signatures with an `l=` body length are refused, since
anyone could append links below the signed part. `sender_matches` then decides whether a verified signature
vouches for the From address of a registered authority.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Any

import dkim as dkimpy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

log = logging.getLogger(__name__)

DnsFunc = Callable[[bytes], bytes | None]
MAX_SIGNATURES = 5  # a mail rarely carries more than two; more is an attempt to make us do DNS work
_MISMATCH = "signature does not match the published key (another key, or signed headers changed)"


@dataclass(frozen=True, slots=True)
class DkimSignatureResult:
    valid: bool
    domain: str | None
    selector: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class DkimResult:
    """The outcome for the mail: the best signature (a valid one aligned with From, else any valid one, else the
    first failure), and every signature that was looked at."""

    valid: bool
    domain: str | None
    selector: str | None
    reason: str
    signatures: tuple[DkimSignatureResult, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record for the order's `sender_authentication`."""
        return {
            "method": "dkim",
            "valid": self.valid,
            "domain": self.domain,
            "selector": self.selector,
            "reason": self.reason,
            "signatures": [
                {"valid": s.valid, "domain": s.domain, "selector": s.selector, "reason": s.reason}
                for s in self.signatures
            ],
        }


class _ReasonLog:
    """Stands in for dkimpy's logger to keep the reason it gives for a failure."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, message: object, *args: object, **kwargs: object) -> None:
        self.errors.append(str(message))

    def debug(self, message: object, *args: object, **kwargs: object) -> None:
        return None

    info = warning = debug

    def isEnabledFor(self, level: int) -> bool:
        return False


def _tags(value: bytes) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in re.sub(rb"\s+", b"", value).split(b";"):
        key, sep, val = item.partition(b"=")
        if sep:
            tags[key.decode("ascii", errors="replace").lower()] = val.decode("ascii", errors="replace")
    return tags


def _friendly(reason: str) -> str:
    lowered = reason.lower()
    if "body hash mismatch" in lowered:
        return "body hash mismatch: the body was changed after signing"
    if "missing public key" in lowered:
        return "no DKIM key published for this selector"
    if "public key too small" in lowered:
        return f"signing key too small ({reason})"
    if "dnstimeout" in lowered or "timeout" in lowered:
        return f"DNS lookup for the DKIM key failed ({reason})"
    return reason[:300]


def _from_domain(raw: bytes) -> str | None:
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
        value = headers.get("From")
        pairs = getaddresses([str(value)]) if value is not None else []
    except Exception:  # a From header we cannot read just means no alignment preference
        return None
    for _, addr in pairs:
        if "@" in addr:
            return normalise_domain(addr.rsplit("@", 1)[1])
    return None


def verify_dkim(raw: bytes, dnsfunc: DnsFunc | None = None, *, timeout: float = 5.0) -> DkimResult:
    """Verify the DKIM signatures of `raw`. `dnsfunc(name)` returns the TXT record for a name such as
    b"sel._domainkey.example.org" (None when there is none); without it, DNS is asked."""
    try:
        return _verify(bytes(raw), dnsfunc, timeout)
    except Exception as exc:  # garbage in, a reason out: never an exception
        log.debug("DKIM verification failed unexpectedly", exc_info=True)
        return DkimResult(False, None, None, f"message could not be checked ({type(exc).__name__})")


def _verify(raw: bytes, dnsfunc: DnsFunc | None, timeout: float) -> DkimResult:
    reasons = _ReasonLog()
    try:
        checker = dkimpy.DKIM(raw, logger=reasons, timeout=timeout)
    except dkimpy.DKIMException as exc:
        return DkimResult(False, None, None, f"message format not readable for DKIM ({exc})")
    signatures = [value for name, value in checker.headers if name.lower() == b"dkim-signature"]
    if not signatures:
        return DkimResult(False, None, None, "no DKIM-Signature header")

    options: dict[str, Any] = {}
    if dnsfunc is not None:

        def lookup(name: bytes, timeout: float = timeout) -> bytes | None:
            return dnsfunc(name.rstrip(b"."))

        options["dnsfunc"] = lookup

    results: list[DkimSignatureResult] = []
    for index, header in enumerate(signatures[:MAX_SIGNATURES]):
        tags = _tags(header)
        domain = normalise_domain(tags["d"]) if tags.get("d") else None
        selector = tags.get("s") or None
        reasons.errors.clear()
        try:
            ok = bool(checker.verify(idx=index, **options))
            reason = "signature verified" if ok else (reasons.errors[-1] if reasons.errors else _MISMATCH)
        except dkimpy.DKIMException as exc:
            ok, reason = False, str(exc)
        except Exception as exc:
            ok, reason = False, f"signature could not be checked ({type(exc).__name__}: {exc})"
        if ok and "l" in tags:
            ok, reason = False, "signature covers only part of the body (l= tag); not accepted"
        results.append(DkimSignatureResult(ok, domain, selector, reason if ok else _friendly(reason)))

    from_domain = _from_domain(raw)
    valid = [r for r in results if r.valid]
    aligned = [r for r in valid if from_domain and r.domain and domains_align(from_domain, r.domain)]
    best = (aligned or valid or results)[0]
    return DkimResult(best.valid, best.domain, best.selector, best.reason, tuple(results))


def public_dns_txt(name: bytes, timeout: float = 5.0) -> bytes | None:
    """The TXT record for ``name`` from public DNS (what ``verify_dkim`` asks when given no ``dnsfunc``)."""
    from dkim import dnsplug

    record: bytes | None = dnsplug.get_txt(name, timeout=timeout)
    return record


def sign_dkim(raw: bytes, selector: str, domain: str, private_key_pem: bytes | str) -> bytes:
    """Return `raw` with a DKIM-Signature header prepended. The key is an RSA (PKCS#1 or PKCS#8) or Ed25519 PEM."""
    pem = private_key_pem.encode("ascii") if isinstance(private_key_pem, str) else private_key_pem
    key = serialization.load_pem_private_key(pem, password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = b"rsa-sha256"
        material = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = b"ed25519-sha256"
        seed = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        material = base64.b64encode(seed)
    else:
        raise ValueError("DKIM signing needs an RSA or Ed25519 private key")
    signature = dkimpy.sign(
        raw, selector.encode("ascii"), domain.encode("ascii"), material, signature_algorithm=algorithm
    )
    return bytes(signature) + raw


def dkim_txt_record(public_key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> bytes:
    """The TXT record to publish at `<selector>._domainkey.<domain>` for a signing key."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return b"v=DKIM1; k=ed25519; p=" + base64.b64encode(raw)
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


# ---- alignment -------------------------------------------------------------------------------------------------

# Second-level labels under which registries hand out names (co.uk, go.kr, gouv.fr, ...). Without the Public
# Suffix List we refuse to let a signature align through such a parent: d=co.uk must never vouch for x.co.uk.
_REGISTRY_LABELS = frozenset(
    {
        "ac", "co", "com", "edu", "go", "gob", "gouv", "gov", "govt", "gv", "ltd", "me", "mil", "ne", "net",
        "nhs", "nic", "or", "org", "plc", "police", "re", "sch",
    }
)  # fmt: skip


def normalise_domain(domain: str) -> str:
    domain = domain.strip().strip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def _is_public_suffix_like(domain: str) -> bool:
    labels = domain.split(".")
    if len(labels) <= 1:
        return True
    return len(labels) == 2 and len(labels[1]) == 2 and labels[0] in _REGISTRY_LABELS


def domains_align(from_domain: str, dkim_domain: str) -> bool:
    """Relaxed alignment: equal, or one a subdomain of the other, where the shorter is not a public suffix.

    This is stricter than DMARC's organisational-domain rule (sibling subdomains do not align), because it works
    without the Public Suffix List and must never let one registrant vouch for another."""
    a, b = normalise_domain(from_domain), normalise_domain(dkim_domain)
    if not a or not b:
        return False
    if a == b:
        return True
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return longer.endswith("." + shorter) and not _is_public_suffix_like(shorter)


def sender_matches(
    from_address: str | None,
    dkim_domain: str | None,
    registered_addresses: Iterable[str],
    registered_domains: Iterable[str],
) -> bool:
    """True when a valid DKIM signature of `dkim_domain` vouches for `from_address`, and that address belongs to a
    registered authority: the exact address is registered, or its domain is (or is a subdomain of) a registered
    domain. Call it only with the domain of a signature that verified."""
    if not from_address or not dkim_domain or "@" not in from_address:
        return False
    address = from_address.strip().lower()
    local, _, domain = address.rpartition("@")
    if not local:
        return False
    from_domain = normalise_domain(domain)
    if not domains_align(from_domain, dkim_domain):
        return False
    addresses = {a.strip().lower() for a in registered_addresses}
    if address in addresses or f"{local}@{from_domain}" in addresses:
        return True
    for registered in registered_domains:
        registered = normalise_domain(registered)
        if registered and (from_domain == registered or from_domain.endswith("." + registered)):
            return True
    return False
