"""Parsing order mail: bodies, headers, charsets, broken MIME, and what an order says."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firebreak.mail import MailLimits, MailParseError, parse_order_mail
from firebreak.mail.schemas import ExtractedHash

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "098f6bcd4621d373cade4e832627b4f6"


def order_mail(body: str, subject: str = "Removal order", **headers: str) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = headers.pop("From", "Officer Kim <Officer.Kim@Police.Example>")
    message["To"] = "takedown@firebreak.invalid"
    message["Subject"] = subject
    message["Message-ID"] = "<order-1@police.example>"
    message["Date"] = "Mon, 02 Mar 2026 09:00:00 +0900"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def test_plain_text_order_with_25_message_links() -> None:
    links = [f"https://t.me/c/1234567/{n}" for n in range(1, 26)]
    lines = [f"{n}. {link}{',' if n % 3 == 0 else ''}" for n, link in enumerate(links, 1)]
    lines[4] = f"5. ({links[4]})"  # in brackets
    lines[9] = f"10. <{links[9]}>."  # angle brackets and a full stop
    body = "\n".join(
        [
            "Dear Trust & Safety team,",
            "",
            "Our ref: KNPA-2026/0042",
            "Legal basis: Article 9 of Regulation (EU) 2022/2065 (Digital Services Act)",
            "The following messages share non-consensual intimate images of the victim:",
            *lines,
            "",
            f"Repeated for clarity: {links[0]}",
            "Kind regards",
        ]
    )
    parsed = parse_order_mail(order_mail(body))

    assert parsed.links == links
    assert parsed.from_address == "officer.kim@police.example"
    assert parsed.from_name == "Officer Kim"
    assert parsed.to == ["takedown@firebreak.invalid"]
    assert parsed.message_id == "<order-1@police.example>"
    assert parsed.date == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    assert parsed.date.utcoffset() == timedelta(hours=9)
    assert parsed.authority_reference == "KNPA-2026/0042"
    assert parsed.legal_basis == "Article 9 of Regulation (EU) 2022/2065 (Digital Services Act)"
    assert parsed.legal_instruments == ["Article 9 DSA"]
    assert parsed.category == "ncii"
    assert parsed.tracking_id is None
    assert parsed.is_automatic is False
    assert "Kind regards" in parsed.text
    assert parsed.warnings == []


def test_html_only_mail_links_come_from_hrefs_in_document_order() -> None:
    html = """<html><head><title>Order</title><style>p {color: red}</style>
    <script>var x = "https://tracker.example/should-not-appear";</script></head>
    <body><p>Please remove <a href="https://t.me/c/1/10">message one</a> and
    <a href='https://t.me/c/1/11?single&amp;thread=2'>message two</a>.</p>
    <p>Also https://example.org/plain-text-link and <a href="mailto:kim@police.example">write to us</a>.</p>
    <table><tr><td>Reference:</td><td>AB-77/2026</td></tr></table>
    <p>Terrorist content under the TCO Regulation &ndash; removal within one hour.</p></body></html>"""
    message = EmailMessage(policy=SMTP)
    message["From"] = "ops@police.example"
    message["Subject"] = "TCO removal order"
    message.set_content(html, subtype="html")
    parsed = parse_order_mail(message.as_bytes())

    assert parsed.links == [
        "https://t.me/c/1/10",
        "https://t.me/c/1/11?single&thread=2",
        "https://example.org/plain-text-link",
    ]
    assert "Please remove message one and" in parsed.text
    assert "tracker.example" not in parsed.text
    assert "color: red" not in parsed.text
    assert parsed.category == "terrorist_content"
    assert parsed.legal_instruments == ["Regulation (EU) 2021/784 (TCO)"]
    assert parsed.authority_reference == "AB-77/2026"


def test_multipart_alternative_prefers_the_plain_text_but_reads_both_for_links() -> None:
    message = EmailMessage(policy=SMTP)
    message["From"] = "ops@police.example"
    message["Subject"] = "order"
    message.set_content("Remove https://t.me/c/1/1\n")
    html = '<p>Remove <a href="https://t.me/c/1/1">this</a> and <a href="https://t.me/c/1/2">that</a></p>'
    message.add_alternative(html, subtype="html")
    parsed = parse_order_mail(message.as_bytes())
    assert parsed.text == "Remove https://t.me/c/1/1"
    assert parsed.links == ["https://t.me/c/1/1", "https://t.me/c/1/2"]


def test_hashes_are_typed_by_their_labels() -> None:
    body = f"""Please block these files.
pdq: {PDQ}
SHA-256: {SHA.upper()}
md5 {MD5}
Unlabelled: {"ab" * 32}
PDQ hashes:
{"cd" * 32}

{"ef" * 32}
Thanks. https://cdn.example/{"12" * 32}
"""
    parsed = parse_order_mail(order_mail(body))
    assert parsed.hashes == [
        ExtractedHash("pdq", PDQ),
        ExtractedHash("sha256", SHA),
        ExtractedHash("md5", MD5),
        ExtractedHash("sha256_or_pdq", "ab" * 32),
        ExtractedHash("pdq", "cd" * 32),
        ExtractedHash("pdq", "ef" * 32),
    ]
    assert parsed.links == [f"https://cdn.example/{'12' * 32}"]


def test_korean_order_in_euc_kr() -> None:
    body = (
        "안녕하십니까. 경찰청 사이버수사국입니다.\n"
        "사건번호: 2026-사이버-0042\n"
        "법적 근거: 전기통신사업법 제22조의5 및 성폭력범죄의 처벌 등에 관한 특례법\n"
        "아래 대화방에서 유포되는 딥페이크 성적 허위영상물의 삭제를 요청합니다.\n"
        "https://t.me/c/555/1\n"
        "https://t.me/c/555/2입니다\n"
    )
    subject = "=?ks_c_5601-1987?B?" + base64.b64encode("삭제 요청".encode("cp949")).decode() + "?="
    raw = (
        "From: =?EUC-KR?B?" + base64.b64encode("김경찰".encode("euc-kr")).decode() + "?= <kim@police.go.kr>\r\n"
        f"Subject: {subject}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=EUC-KR\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode("ascii") + body.replace("\n", "\r\n").encode("euc-kr")
    parsed = parse_order_mail(raw)

    assert parsed.subject == "삭제 요청"
    assert parsed.from_name == "김경찰"
    assert "사이버수사국" in parsed.text
    assert parsed.links[0] == "https://t.me/c/555/1"
    assert parsed.category == "sexual_deepfake"
    assert parsed.authority_reference == "2026-사이버-0042"
    assert parsed.legal_basis is not None and parsed.legal_basis.startswith("전기통신사업법")
    assert parsed.legal_instruments == ["Telecommunications Business Act", "Sexual Violence Punishment Act (Korea)"]
    assert parsed.warnings == []


def test_iso_2022_jp_and_raw_utf8_headers() -> None:
    raw = (
        b"From: =?ISO-2022-JP?B?" + base64.b64encode("警察".encode("iso2022_jp")) + b"?= <a@police.jp>\r\n"
        b"Subject: " + "削除要請 raw UTF-8".encode() + b"\r\n"
        b"Content-Type: text/plain; charset=ISO-2022-JP\r\n\r\n"
        + "児童ポルノの削除をお願いします https://example.jp/p/1\r\n".encode("iso2022_jp")
    )
    parsed = parse_order_mail(raw)
    assert parsed.from_name == "警察"
    assert parsed.subject == "削除要請 raw UTF-8"
    assert parsed.category == "csam"
    assert parsed.links == ["https://example.jp/p/1"]


def test_wrong_charset_label_is_decoded_with_a_warning() -> None:
    raw = b"From: a@police.example\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCaf\xe9 https://x.example/1\r\n"
    parsed = parse_order_mail(raw)
    assert parsed.links == ["https://x.example/1"]
    assert "Caf" in parsed.text
    assert any("did not decode cleanly" in w for w in parsed.warnings)
    unknown = parse_order_mail(b"From: a@b.example\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nhi\r\n")
    assert unknown.text == "hi"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sexually explicit deepfake videos of a teacher", "sexual_deepfake"),
        ("AI-generated nude images", "sexual_deepfake"),
        ("a nudify bot", "sexual_deepfake"),
        ("a deepfake of a politician giving a speech", "other"),
        ("child sexual abuse material", "csam"),
        ("Kinderpornografie (§ 184b StGB)", "csam"),
        ("non-consensual intimate imagery", "ncii"),
        ("불법촬영물 유포", "ncii"),
        ("under the TAKE IT DOWN Act", "ncii"),
        ("Volksverhetzung", "hate_speech"),
        ("incitement to hatred against a group", "hate_speech"),
        ("terrorist propaganda video", "terrorist_content"),
        ("Category: NCII\nIncludes some hate speech", "ncii"),
        ("counterfeit goods", "other"),
    ],
)
def test_category(text: str, expected: str) -> None:
    assert parse_order_mail(order_mail(text, subject="Order")).category == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Our ref: ABC-2024/123", "ABC-2024/123"),
        ("Our reference ABC-2024/123 dated 1 May", "ABC-2024/123"),
        ("Case no. 2024-0099", "2024-0099"),
        ("Aktenzeichen: 12 Js 345/26", "12 Js 345/26"),
        ("Reference: FB-2026-7K3Q9X\nCase number: 77", "77"),
        ("With reference to our call, please act.", None),
        ("Référence : DOS-2026-15", "DOS-2026-15"),
    ],
)
def test_authority_reference(text: str, expected: str | None) -> None:
    assert parse_order_mail(order_mail(text, subject="Order")).authority_reference == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Legal basis: Section 3 Online Safety Act 2023", "Section 3 Online Safety Act 2023"),
        ("Rechtsgrundlage: § 3 NetzDG", "§ 3 NetzDG"),
        ("We act under Art. 9 DSA.", "Article 9 DSA"),
        ("Issued under the TAKE IT DOWN Act.", "TAKE IT DOWN Act"),
        ("Under the Telecommunications Business Act of Korea.", "Telecommunications Business Act"),
        ("Please help.", None),
    ],
)
def test_legal_basis(text: str, expected: str | None) -> None:
    assert parse_order_mail(order_mail(text, subject="Order")).legal_basis == expected


def test_tracking_id_from_subject_body_or_thread_headers() -> None:
    assert parse_order_mail(order_mail("ok", subject="Re: Order received [fb-2026-7k3q9x]")).tracking_id == (
        "FB-2026-7K3Q9X"
    )
    assert parse_order_mail(order_mail("Tracking ID FB-2026-ABCDEF12, more items")).tracking_id == "FB-2026-ABCDEF12"
    threaded = order_mail(
        "Two more links: https://t.me/c/1/3", In_Reply_To="<20260302.1.2.FB-2026-7K3Q9X@firebreak.invalid>"
    )
    parsed = parse_order_mail(threaded)
    assert parsed.tracking_id == "FB-2026-7K3Q9X"
    assert parsed.in_reply_to == "<20260302.1.2.FB-2026-7K3Q9X@firebreak.invalid>"
    assert parse_order_mail(order_mail("FB-26-ABCDEF and XFB-2026-ABCDEF")).tracking_id is None


def test_threading_headers_and_reply_to() -> None:
    raw = order_mail(
        "hello",
        References="<a@x> <b@x> <a@x>",
        In_Reply_To="<b@x>",
        Reply_To="Desk <desk@police.example>",
        Cc="one@police.example, Two <two@police.example>",
    )
    parsed = parse_order_mail(raw)
    assert parsed.references == ["<a@x>", "<b@x>"]
    assert parsed.in_reply_to == "<b@x>"
    assert parsed.reply_to == "desk@police.example"
    assert parsed.cc == ["one@police.example", "two@police.example"]


@pytest.mark.parametrize(
    "header",
    ["Auto-Submitted: auto-replied", "Precedence: bulk", "X-Autoreply: yes", "List-Id: <x.lists.example>"],
)
def test_automatic_mail_is_flagged(header: str) -> None:
    name, value = header.split(": ", 1)
    assert parse_order_mail(order_mail("I am out of office", **{name.replace("-", "_"): value})).is_automatic


def test_missing_headers_and_bad_date() -> None:
    parsed = parse_order_mail(b"Date: the day after tomorrow\r\n\r\nhttps://x.example/a\r\n")
    assert parsed.from_address is None
    assert parsed.date is None
    assert parsed.subject == ""
    assert parsed.links == ["https://x.example/a"]
    assert any("From" in w for w in parsed.warnings)
    assert any("Date" in w for w in parsed.warnings)


def test_date_without_zone_is_aware() -> None:
    parsed = parse_order_mail(b"From: a@b.example\r\nDate: Mon, 02 Mar 2026 09:00:00 -0000\r\n\r\nx\r\n")
    assert parsed.date == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    parsed = parse_order_mail(b"From: a@b.example\r\nDate: Mon, 02 Mar 2026 09:00:00 +0530\r\n\r\nx\r\n")
    assert parsed.date is not None and parsed.date.tzinfo == timezone(timedelta(hours=5, minutes=30))


def test_empty_input_is_a_parse_error() -> None:
    for raw in (b"", b"  \r\n\r\n "):
        with pytest.raises(MailParseError):
            parse_order_mail(raw)


def test_truncated_multipart_and_damaged_base64() -> None:
    raw = (
        b"From: a@police.example\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        b"--XYZ\r\nContent-Type: text/plain\r\n\r\nSee https://t.me/c/9/9\r\n"
        b"--XYZ\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="shot.png"\r\n\r\n'
        b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAf!!FcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9a"
    )
    parsed = parse_order_mail(raw)
    assert parsed.links == ["https://t.me/c/9/9"]
    [shot] = parsed.attachments
    assert shot.filename == "shot.png" and shot.content_type == "image/png"
    assert any("base64" in w for w in parsed.warnings)
    assert any("CloseBoundaryNotFoundDefect" in w for w in parsed.warnings)


def test_multipart_without_boundary_is_read_as_text() -> None:
    raw = b"From: a@b.example\r\nContent-Type: multipart/mixed\r\n\r\nhttps://t.me/c/1/1\r\n"
    parsed = parse_order_mail(raw)
    assert parsed.links == ["https://t.me/c/1/1"]
    assert parsed.warnings


def test_deeply_nested_multipart_does_not_crash() -> None:
    depth = 1500  # beyond the interpreter's recursion limit
    raw = b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n'
    for level in range(1, depth):
        raw += b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (level - 1, level)
    raw += b"--b%d\r\nContent-Type: text/plain\r\n\r\nhttps://t.me/c/1/1\r\n" % (depth - 1)
    parsed = parse_order_mail(raw)
    assert parsed.from_address == "a@b.example"
    assert parsed.warnings
    shallow = parse_order_mail(raw, MailLimits(max_mime_depth=5))
    assert shallow.warnings


def test_limits_bound_the_work() -> None:
    body = "\n".join(f"https://t.me/c/1/{n}" for n in range(50)) + "\n" + "z" * 5000
    parsed = parse_order_mail(order_mail(body), MailLimits(max_links=10, max_text_chars=1000))
    assert len(parsed.links) == 10
    assert len(parsed.text) == 1000
    assert any("further links ignored" in w for w in parsed.warnings)
    assert any("body text cut" in w for w in parsed.warnings)
    cut = parse_order_mail(order_mail(body), MailLimits(max_message_bytes=2048))
    assert any("message cut" in w for w in cut.warnings)


def test_defanged_and_overlong_links() -> None:
    parsed = parse_order_mail(order_mail("hxxps://bad[.]example/x and https://long.example/" + "a" * 3000))
    assert parsed.links == ["https://bad.example/x"]
    assert any("longer than" in w for w in parsed.warnings)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_random_bytes_only_ever_raise_mail_parse_error(raw: bytes) -> None:
    try:
        parsed = parse_order_mail(raw)
    except MailParseError:
        return
    assert isinstance(parsed.text, str)
    assert all(link.startswith(("http://", "https://")) for link in parsed.links)


_MIME_PIECES = st.sampled_from(
    [
        b"From: a@b.example\r\n",
        b"From: =?utf-8?B?broken\r\n",
        b"Subject: =?x-unknown?Q?=FF=FE?=\r\n",
        b'Content-Type: multipart/mixed; boundary="B"\r\n',
        b"Content-Type: text/html; charset=euc-kr\r\n",
        b"Content-Type: application/zip; name=a.zip\r\n",
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.csv\r\n",
        b"--B\r\n",
        b"--B--\r\n",
        b"\r\n",
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00",
        b"<a href='https://t.me/c/1/1'>x</a><script>",
        b"link,sha256\r\nhttps://t.me/c/2/2,",
        b"UEsDBBQAAAAIAA==\r\n",
        b"=E2=82=AC=\r\n",
        b"\xb0\xa1\xb0\xa2\xff\x00",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_MIME_PIECES, max_size=40))
def test_mime_shaped_garbage_never_raises(pieces: list[bytes]) -> None:
    try:
        parse_order_mail(b"".join(pieces))
    except MailParseError:
        pass


@pytest.mark.timeout(60)
def test_hostile_html_is_read_in_linear_time() -> None:
    # html.parser alone needs minutes for '<a<a<a...' of this size.
    for markup in ("<a" * 300_000, "<" * 600_000, "<a b='>" * 100_000, "<!--" * 100_000, "</" * 300_000):
        start = time.monotonic()
        parse_order_mail(b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n" + markup.encode())
        assert time.monotonic() - start < 10, markup[:10]


def test_html_reading_is_budgeted_per_mail() -> None:
    message = EmailMessage(policy=SMTP)
    message["From"] = "a@b.example"
    message.set_content("see attachments")
    for n in range(5):
        page = f'<p><a href="https://t.me/c/3/{n}">item</a></p>' + "<p>filler</p>" * 20_000
        message.add_attachment(page.encode(), maintype="text", subtype="html", filename=f"page{n}.html")
    parsed = parse_order_mail(message.as_bytes(), MailLimits(max_html_chars=600_000))
    assert parsed.links == [f"https://t.me/c/3/{n}" for n in range(3)]
    assert any("budget" in w for w in parsed.warnings)
