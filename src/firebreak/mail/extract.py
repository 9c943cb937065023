"""Reading an order's substance out of its text: links, hashes, legal basis, category, references, tracking ID.

Everything here works on decoded text and is pure: no I/O, bounded by the caller's limits, never raising on odd
input. Authorities write in many languages, so the label patterns carry English, German, French, Spanish,
Korean and Japanese forms; an unrecognised order still yields its links, hashes and attachments.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from firebreak.mail.schemas import Category, ExtractedHash, HashKind

# ---- links -----------------------------------------------------------------------------------------------------

# http(s) URLs, and the defanged hxxp(s) form analysts use so that a link is not clickable.
_URL = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:https?|hxxps?)://"
    r"[^\s<>\"'`\u00a0\u2028\u2029\u3000\u3001\u3002\uff0c\u300c\u300d\u300e\u300f\uff08\uff09\u3010\u3011]+"
)
_TRAILING = ".,;:!?'\"*_~\u2019\u201d\u00bb"
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}


def _strip_trailing(url: str) -> str:
    while url:
        last = url[-1]
        if last in _TRAILING:
            url = url[:-1]
        elif last in _CLOSERS and url.count(last) > url.count(_CLOSERS[last]):
            url = url[:-1]
        else:
            break
    return url


def _refang(url: str) -> str:
    if url[:4].lower() == "hxxp":
        url = "http" + url[4:]
    return url.replace("[.]", ".").replace("(.)", ".")


class LinkCollector:
    """Collects http(s) links in order of appearance, without duplicates, up to a limit."""

    def __init__(self, max_links: int, max_url_chars: int) -> None:
        self.links: list[str] = []
        self._seen: set[str] = set()
        self._max_links = max_links
        self._max_url_chars = max_url_chars
        self.dropped = 0
        self.too_long = 0

    def add_text(self, text: str) -> None:
        for match in _URL.finditer(text):
            self.add(match.group(0))

    def add(self, candidate: str) -> bool:
        url = _refang(_strip_trailing(candidate.strip()))
        if len(url) > self._max_url_chars:
            self.too_long += 1
            return False
        try:
            parts = urlsplit(url)
            host = parts.hostname
        except ValueError:
            return False
        if parts.scheme.lower() not in ("http", "https") or not host:
            return False
        key = f"{parts.scheme.lower()}://{parts.netloc.lower()}{url[url.find(parts.netloc) + len(parts.netloc) :]}"
        if key in self._seen:
            return False
        if len(self.links) >= self._max_links:
            self.dropped += 1
            return False
        self._seen.add(key)
        self.links.append(url)
        return True

    def warnings(self) -> list[str]:
        out = []
        if self.dropped:
            out.append(f"{self.dropped} further links ignored: at most {self._max_links} are read from one mail")
        if self.too_long:
            out.append(f"{self.too_long} links longer than {self._max_url_chars} characters ignored")
        return out


def urls_removed(text: str) -> str:
    return _URL.sub(" ", text)


# ---- hashes ----------------------------------------------------------------------------------------------------

_HEX = re.compile(r"(?<![0-9A-Za-z])([0-9A-Fa-f]{64}|[0-9A-Fa-f]{32})(?![0-9A-Za-z])")
_HASH_LABEL = re.compile(r"(?i)(?<![a-z])(pdq|sha[-_ ]?256|sha-?2|md[-_ ]?5)(?![a-z0-9])")


def hash_label(text: str) -> str | None:
    """The last hash-type label in `text`: 'pdq', 'sha256' or 'md5'."""
    found = _HASH_LABEL.findall(text)
    if not found:
        return None
    label = found[-1].lower()
    if label.startswith("pdq"):
        return "pdq"
    if label.startswith("md"):
        return "md5"
    return "sha256"


class HashCollector:
    """Collects hex digests; a label ('pdq: ...', 'SHA-256 ...', a heading line 'MD5 hashes:') decides the type."""

    def __init__(self, max_hashes: int) -> None:
        self._by_value: dict[str, ExtractedHash] = {}
        self._max = max_hashes
        self.dropped = 0
        self.mismatched: list[str] = []

    @property
    def hashes(self) -> list[ExtractedHash]:
        return list(self._by_value.values())

    def add(self, value: str, label: str | None) -> None:
        value = value.lower()
        kind: HashKind
        if len(value) == 32:
            kind = "md5"
            if label in ("pdq", "sha256"):
                self.mismatched.append(f"{value} is labelled {label} but has 32 hex digits; read as md5")
        elif label == "pdq":
            kind = "pdq"
        elif label == "sha256":
            kind = "sha256"
        else:
            kind = "sha256_or_pdq"
            if label == "md5":
                self.mismatched.append(f"{value} is labelled md5 but has 64 hex digits; read as sha256_or_pdq")
        existing = self._by_value.get(value)
        if existing is not None:
            if existing.kind == "sha256_or_pdq" and kind in ("sha256", "pdq"):
                self._by_value[value] = ExtractedHash(kind=kind, value=value)
            return
        if len(self._by_value) >= self._max:
            self.dropped += 1
            return
        self._by_value[value] = ExtractedHash(kind=kind, value=value)

    def add_text(self, text: str) -> None:
        sticky: str | None = None
        for line in urls_removed(text).splitlines():
            matches = list(_HEX.finditer(line))
            if not matches:
                if line.strip():
                    # A heading such as "PDQ hashes:" labels the list below it; other prose ends the list.
                    sticky = hash_label(line)
                continue
            start = 0
            for match in matches:
                label = hash_label(line[max(start, match.start() - 40) : match.start()]) or sticky
                self.add(match.group(1), label)
                start = match.end()

    def add_cell(self, cell: str, label: str | None) -> None:
        for match in _HEX.finditer(cell):
            self.add(match.group(1), hash_label(cell[: match.start()]) or label)

    def warnings(self) -> list[str]:
        out = list(self.mismatched)
        if self.dropped:
            out.append(f"{self.dropped} further hashes ignored: at most {self._max} are read from one mail")
        return out


# ---- legal basis -----------------------------------------------------------------------------------------------

_LEGAL_LABEL = re.compile(
    r"(?im)^[ \t>*\-\u2022]*(?:legal\s+bas[ie]s|legal\s+grounds?|statutory\s+basis|basis\s+in\s+law|"
    r"rechtsgrundlage|ermächtigungsgrundlage|base\s+(?:juridique|légale|legal|jurídica|giuridica)|"
    r"fondement\s+juridique|fundamento\s+(?:jurídico|legal)|법적\s*근거|근거\s*법령|관련\s*법령|法的根拠|根拠法令?)"
    r"[ \t]*[:：][ \t]*(\S[^\n]*)$"
)
_INSTRUMENTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), name)
    for pattern, name in (
        (r"\bart(?:icle|\.)?\s*9\b[^\n]{0,60}?(?:\bDSA\b|Digital\s+Services\s+Act|2022/2065)", "Article 9 DSA"),
        (r"\bart(?:icle|\.)?\s*16\b[^\n]{0,60}?(?:\bDSA\b|Digital\s+Services\s+Act|2022/2065)", "Article 16 DSA"),
        (r"\bTAKE\s+IT\s+DOWN\s+Act\b", "TAKE IT DOWN Act"),
        (r"\bTelecommunications\s+Business\s+Act\b|전기통신사업법", "Telecommunications Business Act"),
        (r"정보통신망\s*(?:이용촉진\s*및\s*정보보호\s*등에\s*관한\s*법률|법)|\bNetwork\s+Act\b", "Network Act (Korea)"),
        (r"성폭력범죄의\s*처벌\s*등에\s*관한\s*특례법|성폭력처벌법", "Sexual Violence Punishment Act (Korea)"),
        (r"\bOnline\s+Safety\s+Act\b", "Online Safety Act"),
        (r"\bNetzDG\b|Netzwerkdurchsetzungsgesetz", "NetzDG"),
        (r"Regulation\s*\(EU\)\s*2021/784|\bTCO\s+Regulation\b|\bTCO\b", "Regulation (EU) 2021/784 (TCO)"),
        (r"\bDigital\s+Services\s+Act\b|\bDSA\b|2022/2065", "Digital Services Act"),
    )
)
MAX_LEGAL_BASIS_CHARS = 500


def legal_basis(text: str) -> tuple[str | None, list[str]]:
    """The stated legal basis (the labelled line, or the instruments named) and the instruments recognised."""
    instruments: list[str] = []
    for pattern, name in _INSTRUMENTS:
        if pattern.search(text) and name not in instruments:
            if name == "Digital Services Act" and any("DSA" in found for found in instruments):
                continue
            instruments.append(name)
    match = _LEGAL_LABEL.search(text)
    if match:
        return match.group(1).strip()[:MAX_LEGAL_BASIS_CHARS], instruments
    if instruments:
        return "; ".join(instruments)[:MAX_LEGAL_BASIS_CHARS], instruments
    return None, instruments


# ---- category --------------------------------------------------------------------------------------------------


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_CSAM = _rx(
    r"\bcsam\b|\bcsem\b|child\s+sexual\s+(?:abuse|exploitation)|child\s+(?:porn\w*|abuse\s+(?:material|imagery))|"
    r"kinderpornogra|kinder-?\s*und\s+jugendpornogra|pédopornogra|pornografía\s+infantil|"
    r"아동\s*[·ㆍ]?\s*청소년\s*성\s*착취|아동\s*성\s*착취|아동\s*음란|児童ポルノ|児童の性的"
)
_DEEPFAKE = _rx(r"deep\s*-?\s*fakes?|딥\s*페이크|face\s*-?\s*swap|ai[-\s]generated|synthetic\s+(?:image|video|media)")
_SEXUAL = _rx(r"sexual|intimate|nud(?:e|ity)|naked|porn|explicit|성적|음란|나체|성착취|性的|ポルノ|わいせつ")
_SEXUAL_DEEPFAKE = _rx(r"허위\s*영상물|nudif(?:y|ication)|undress(?:ing)?\s+(?:app|tool|bot)|性的ディープフェイク")
_NCII = _rx(
    r"non[-\s]?consensual\s+(?:intimate|sexual|pornograph)|\bncii\b|\bintimate\s+(?:images?|videos?|imagery)|"
    r"revenge\s+porn|image[-\s]based\s+sexual\s+abuse|sextortion|불법\s*촬영|리벤지\s*포르노|비동의\s*유포|"
    r"TAKE\s+IT\s+DOWN\s+Act|リベンジポルノ"
)
_TERRORIST = _rx(r"terroris[mt]|violent\s+extremis|\btco\b|2021/784|테러|テロ")
_HATE = _rx(
    r"hate\s+speech|incitement\s+to\s+(?:hatred|violence)|volksverhetzung|hassrede|discours\s+de\s+haine|"
    r"혐오\s*표현|ヘイトスピーチ"
)
_CATEGORY_LABEL = re.compile(
    r"(?im)^[ \t>*\-\u2022]*(?:category|type\s+of\s+(?:content|material)|content\s+type|kategorie|catégorie|"
    r"categoría|유형|분류|카테고리|種別|カテゴリ)[ \t]*[:：][ \t]*(\S[^\n]*)$"
)


def _classify(text: str) -> Category:
    if _CSAM.search(text):
        return "csam"
    if _SEXUAL_DEEPFAKE.search(text) or (_DEEPFAKE.search(text) and _SEXUAL.search(text)):
        return "sexual_deepfake"
    if _NCII.search(text):
        return "ncii"
    if _TERRORIST.search(text):
        return "terrorist_content"
    if _HATE.search(text):
        return "hate_speech"
    return "other"


_PRESERVATION = re.compile(
    r"preservation\s+(?:request|order|letter)|request(?:ing)?\s+(?:the\s+)?preservation|request\s+to\s+preserve"
    r"|2703\s*\(\s*f\s*\)|sicherung(?:santrag|sanordnung)|보전\s*(?:요청|명령|조치)|증거\s*보전", re.IGNORECASE)


def requested_action(text: str) -> str:
    """"preserve" when the mail is a preservation request (keep the content as evidence, remove nothing); else
    "remove". Only explicit wording counts: a takedown is the default."""
    return "preserve" if _PRESERVATION.search(text) else "remove"


def category(text: str) -> Category:
    """Map what the mail says to the taxonomy; an explicit 'Category:' line wins when it is recognisable."""
    label = _CATEGORY_LABEL.search(text)
    if label:
        stated = _classify(label.group(1))
        if stated != "other":
            return stated
    return _classify(text)


# ---- references and tracking IDs -------------------------------------------------------------------------------

TRACKING_ID = re.compile(r"(?i)(?<![A-Za-z0-9])FB-(\d{4})-([A-Z0-9]{6,32})(?![A-Za-z0-9])")


def tracking_id(*texts: str) -> str | None:
    """The first Firebreak tracking ID (FB-2026-7K3Q9X) in the texts, upper-cased."""
    for text in texts:
        match = TRACKING_ID.search(text)
        if match:
            return f"FB-{match.group(1)}-{match.group(2).upper()}"
    return None


# Labels that may stand without a colon ("Our ref ABC/1", "Case no. 12"), and generic ones that need one.
_REF_STRONG = (
    r"our\s+ref(?:erence)?|case\s+(?:no|number|ref(?:erence)?|id)|file\s+(?:no|number|ref(?:erence)?)|"
    r"aktenzeichen|\baz|gesch[äa]ftszeichen|n[°º]\s*de\s*dossier|expediente|사건\s*번호|접수\s*번호|문서\s*번호|"
    r"관리\s*번호|事件番号|整理番号|受付番号"
)
_REF_GENERIC = r"ref(?:erence)?|referenz|r[ée]f[ée]rence|dossier|referencia|참조"
_REF_VALUE = r"([A-Za-z0-9가-힣][A-Za-z0-9가-힣_./\-]{1,80})"
_REFERENCE = re.compile(
    rf"(?i)(?<![A-Za-z])(?:(?:{_REF_STRONG})\.?[ \t]*(?:no\.?|nr\.?|number|#)?[ \t]*[:：#]?"
    rf"|(?:{_REF_GENERIC})\.?[ \t]*(?:no\.?|nr\.?|number)?[ \t]*[:：#])[ \t]*{_REF_VALUE}"
)
MAX_REFERENCE_CHARS = 200


def authority_reference(*texts: str) -> str | None:
    """The authority's own reference for the order ('Our ref: ABC-2024/123', 'Aktenzeichen 12 Js 34/26')."""
    for text in texts:
        for match in _REFERENCE.finditer(text):
            token = match.group(1).rstrip(".,;:/-")
            if not any(ch.isdigit() for ch in token) or TRACKING_ID.fullmatch(token):
                continue
            # German file numbers have spaces: "Aktenzeichen 12 Js 345/26".
            register = re.match(r"[ \t]+[A-Za-z]{1,4}[ \t]+\d+/\d{2,4}(?![\w/])", text[match.end() : match.end() + 40])
            if token.isdigit() and register:
                token += register.group(0)
            return token[:MAX_REFERENCE_CHARS]
    return None
