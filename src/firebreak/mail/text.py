"""Turning mail bytes into text: charsets, RFC 2047 headers, and HTML.

Mail from authorities arrives in every charset their clients ever used: EUC-KR labelled as ks_c_5601-1987,
ISO-2022-JP, Windows code pages labelled as ISO-8859-1, UTF-8 labelled as us-ascii. Decoding tries the labelled
charset's common supersets first and never fails: what cannot be decoded becomes U+FFFD and a warning.
"""

from __future__ import annotations

import binascii
import codecs
import re
from html.parser import HTMLParser

# Labels seen in the wild, mapped to the codecs that actually decode such mail (supersets first).
_CHARSET_CANDIDATES: dict[str, tuple[str, ...]] = {
    "ks_c_5601-1987": ("cp949",),
    "ks_c_5601": ("cp949",),
    "ksc5601": ("cp949",),
    "ksc_5601": ("cp949",),
    "euc-kr": ("cp949",),
    "euc_kr": ("cp949",),
    "euckr": ("cp949",),
    "x-windows-949": ("cp949",),
    "windows-949": ("cp949",),
    "iso-2022-kr": ("iso2022_kr", "cp949"),
    "iso-2022-jp": ("iso2022_jp_2", "iso2022_jp_ext", "iso2022_jp_3"),
    "csiso2022jp": ("iso2022_jp_2", "iso2022_jp_ext"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "shift-jis": ("cp932", "shift_jis_2004"),
    "sjis": ("cp932",),
    "x-sjis": ("cp932",),
    "windows-31j": ("cp932",),
    "euc-jp": ("euc_jis_2004", "euc_jp"),
    "gb2312": ("gb18030",),
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "big5": ("big5hkscs", "cp950"),
    "iso-8859-1": ("cp1252",),
    "latin1": ("cp1252",),
    "latin-1": ("cp1252",),
    "us-ascii": ("ascii", "utf-8", "cp1252"),
    "ascii": ("ascii", "utf-8", "cp1252"),
    "utf8": ("utf-8",),
    "utf-8": ("utf-8",),
    "unknown-8bit": ("utf-8", "cp1252"),
    "x-unknown": ("utf-8", "cp1252"),
}
_UNLABELLED = ("utf-8", "cp1252")


def _candidates(charset: str | None) -> list[str]:
    if not charset:
        return list(_UNLABELLED)
    label = charset.strip().strip("\"'").lower()
    known = _CHARSET_CANDIDATES.get(label)
    if known is not None:
        return list(known)
    try:
        return [codecs.lookup(label).name, *_UNLABELLED]
    except (LookupError, ValueError):
        return list(_UNLABELLED)


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode `data` labelled with `charset`. Returns the text and a warning when the decoding was lossy."""
    candidates = _candidates(charset)
    for name in candidates:
        try:
            return data.decode(name), None
        except (UnicodeDecodeError, LookupError):
            continue
    fallback = candidates[0]
    try:
        text = data.decode(fallback, errors="replace")
    except LookupError:  # pragma: no cover - candidates are known codecs
        text = data.decode("utf-8", errors="replace")
    return text, f"text labelled {charset or 'without charset'} did not decode cleanly; damaged characters replaced"


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")


def _decode_word(encoding: str, payload: str) -> bytes:
    if encoding in "bB":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return binascii.a2b_base64(cleaned)
        except binascii.Error:
            return payload.encode("ascii", errors="replace")
    return binascii.a2b_qp(payload.encode("ascii", errors="replace"), header=True)


def _decode_encoded_words(value: str) -> str:
    # Adjacent words in one charset are joined before decoding: some encoders split a multi-byte character
    # across two words.
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    position = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending_charset is not None:
            out.append(decode_bytes(bytes(pending), pending_charset)[0])
        pending = bytearray()
        pending_charset = None

    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 language suffix
        adjacent = pending_charset is not None and not between.strip()
        if not adjacent:
            flush()
            out.append(between)
        elif pending_charset is not None and charset.lower() != pending_charset.lower():
            flush()  # whitespace between adjacent encoded words is not part of the text (RFC 2047 6.2)
        pending += _decode_word(match.group(2), match.group(3))
        pending_charset = charset
        position = match.end()
    flush()
    out.append(value[position:])
    return "".join(out)


def decode_header_value(value: str | None) -> str:
    """Decode an RFC 2047 header value (or raw 8-bit bytes smuggled in as surrogates) to text."""
    if not value:
        return ""
    # Unfold, then undo the surrogate escapes the byte parser uses for raw 8-bit header bytes.
    value = re.sub(r"\r?\n[ \t]*", " ", value)
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        value, _ = decode_bytes(value.encode("ascii", errors="surrogateescape"), None)
    return _decode_encoded_words(value).strip()


# ---- HTML -> text ----------------------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
        "p", "pre", "section", "table", "tr", "ul",
    }
)  # fmt: skip
_SKIP_TAGS = frozenset({"script", "style", "head", "title", "noscript", "template", "svg"})
_HREF_SCHEMES = ("http://", "https://", "hxxp://", "hxxps://")


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.stream: list[str] = []  # text with hrefs spliced in where they appear, for links in document order
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth += 1
            return
        if tag in _BLOCK_TAGS:
            self._newline()
        elif tag in ("td", "th"):
            self._append("\t")
        if tag == "a":
            for name, value in attrs:
                if name == "href" and value and value.strip().lower().startswith(_HREF_SCHEMES):
                    href = re.sub(r"\s+", "%20", value.strip())
                    self.stream.append(f" {href} ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            return
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if tag in _BLOCK_TAGS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        self._append(re.sub(r"[ \t\r\n\f]+", " ", data))

    def _append(self, text: str) -> None:
        self.text.append(text)
        self.stream.append(text)

    def _newline(self) -> None:
        self.text.append("\n")
        self.stream.append("\n")


def _tidy(text: str) -> str:
    lines = [line.strip() for line in text.replace("\xa0", " ").splitlines()]
    tidy = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", tidy).strip()


_TAG_OR_LT = re.compile(r"<[^<>]*>|<")


def _strip_comments(html: str) -> str:
    out: list[str] = []
    position = 0
    while (start := html.find("<!--", position)) >= 0:
        out.append(html[position:start])
        end = html.find("-->", start + 4)
        if end < 0:
            return "".join(out)
        position = end + 3
    out.append(html[position:])
    return "".join(out)


def _defuse(html: str) -> str:
    """Rewrite markup so that html.parser works in linear time.

    html.parser rescans to the end of the input for every '<' that does not close, which makes '<a<a<a...' take
    minutes. Here every tag is a '<...>' with no '<' or '>' inside and balanced quotes; a stray '<' becomes '&lt;';
    comments, declarations, CDATA and processing instructions are dropped (none carries text we need)."""
    text = _strip_comments(html)
    out: list[str] = []
    position = 0
    for match in _TAG_OR_LT.finditer(text):
        out.append(text[position : match.start()])
        position = match.end()
        markup = match.group(0)
        if markup == "<":
            out.append("&lt;")
        elif markup[1:2] in ("!", "?"):
            continue
        elif markup.count('"') % 2 or markup.count("'") % 2:
            out.append(markup.replace('"', "").replace("'", ""))
        else:
            out.append(markup)
    out.append(text[position:])
    return "".join(out)


def html_to_text(html: str) -> tuple[str, str]:
    """Return the readable text of `html` and a 'link stream': the text with every http(s) href spliced in at the
    place it appears, so links can be listed in document order."""
    parser = _HtmlText()
    html = _defuse(html)
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser can trip on broken markup; fall back to stripping tags
        stripped = re.sub(r"<[^>]{0,10000}>", " ", html)
        hrefs = re.findall(r"""href\s*=\s*["']?([^"'\s>]+)""", html, flags=re.IGNORECASE)
        return _tidy(stripped), stripped + " " + " ".join(hrefs)
    return _tidy("".join(parser.text)), "".join(parser.stream)
