"""Attachments in order mail: images and videos, zips (and zip bombs), CSV lists."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from email.policy import SMTP

from firebreak.mail import MailLimits, parse_order_mail
from firebreak.mail.schemas import ExtractedHash
from tests.mail.conftest import image_bytes

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "098f6bcd4621d373cade4e832627b4f6"
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


def mail_with(*files: tuple[str, str, bytes], body: str = "Please remove the attached files.") -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = "ops@police.example"
    message["To"] = "takedown@firebreak.invalid"
    message["Subject"] = "Removal order"
    message.set_content(body)
    for filename, content_type, data in files:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def zip_bytes(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_images_and_videos_stay_files_and_other_types_are_kept_with_a_reason() -> None:
    red, blue, jpeg = image_bytes((200, 0, 0)), image_bytes((0, 0, 200)), image_bytes((0, 120, 0), "JPEG")
    raw = mail_with(
        ("red.png", "image/png", red),
        ("blue.png", "image/png", blue),
        ("photo.jpg", "application/octet-stream", jpeg),  # a generic label; the bytes say JPEG
        ("clip.mp4", "video/mp4", MP4_HEAD),
        ("order.pdf", "application/pdf", b"%PDF-1.7 order letter"),
    )
    parsed = parse_order_mail(raw)

    assert [(a.filename, a.content_type) for a in parsed.media] == [
        ("red.png", "image/png"),
        ("blue.png", "image/png"),
        ("photo.jpg", "image/jpeg"),
        ("clip.mp4", "video/mp4"),
    ]
    assert parsed.media[0].data == red
    [pdf] = [a for a in parsed.attachments if not a.is_media]
    assert pdf.filename == "order.pdf"
    assert pdf.skipped_reason == "not an image, video, zip or CSV"
    assert pdf.data.startswith(b"%PDF")


def test_zip_of_images_is_expanded_safely() -> None:
    images = {f"evidence/img{n}.png": image_bytes((40 * n, 10, 10)) for n in range(1, 4)}
    archive = zip_bytes(
        {
            **images,
            "evidence/video.webm": b"\x1a\x45\xdf\xa3" + b"\x00" * 100,
            "__MACOSX/evidence/._img1.png": b"junk",
            "notes.txt": b"see https://t.me/c/5/5",
            "inner.zip": zip_bytes({"deeper.png": image_bytes((1, 2, 3))}),
            "../escape.png": image_bytes((9, 9, 9)),
            "/etc/absolute.png": image_bytes((9, 9, 9)),
            "links.csv": b"url\nhttps://t.me/c/7/7\n",
        }
    )
    parsed = parse_order_mail(mail_with(("evidence.zip", "application/zip", archive)))

    media = parsed.media
    assert [a.filename for a in media] == ["img1.png", "img2.png", "img3.png", "video.webm"]
    assert all(a.source == "evidence.zip" for a in media)
    assert media[1].data == images["evidence/img2.png"]
    assert parsed.links == ["https://t.me/c/7/7"]  # a CSV inside the zip is read
    [original] = [a for a in parsed.attachments if a.filename == "evidence.zip"]
    assert original.skipped_reason == "archive: 4 media files taken out"
    warnings = "\n".join(parsed.warnings)
    assert "nested archive 'inner.zip' not expanded" in warnings
    assert "'../escape.png' skipped (unsafe path)" in warnings
    assert "'/etc/absolute.png' skipped (unsafe path)" in warnings
    assert "'notes.txt' skipped" in warnings
    assert "MACOSX" not in warnings


def test_zip_bomb_is_refused_with_a_warning() -> None:
    bomb = zip_bytes({f"layer{n}.png": b"\x00" * (20 * 1024 * 1024) for n in range(3)})
    assert len(bomb) < 200 * 1024
    parsed = parse_order_mail(mail_with(("photos.zip", "application/zip", bomb)))

    assert parsed.media == []
    assert any("photos.zip" in w and "possible zip bomb" in w for w in parsed.warnings)
    [kept] = parsed.attachments
    assert kept.skipped_reason == "archive: 0 media files taken out"


def test_zip_limits_on_entries_total_size_and_member_ratio() -> None:
    many = zip_bytes({f"{n}.png": image_bytes((n, n, n), size=(4, 4)) for n in range(30)})
    parsed = parse_order_mail(mail_with(("many.zip", "application/zip", many)), MailLimits(zip_max_entries=20))
    assert parsed.media == []
    assert any("30 entries" in w for w in parsed.warnings)

    big = zip_bytes({f"{n}.png": image_bytes((n, 0, 0), size=(256, 256)) for n in range(4)})
    parsed = parse_order_mail(mail_with(("big.zip", "application/zip", big)), MailLimits(zip_max_total_bytes=1000))
    assert parsed.media == []
    assert any("big.zip" in w and "refused" in w for w in parsed.warnings)

    # One bomb member among real images: the member is skipped, the images are kept.
    mixed = zip_bytes({"real.png": image_bytes((5, 5, 5)), "zeros.png": b"\x00" * (3 * 1024 * 1024)})
    parsed = parse_order_mail(mail_with(("mixed.zip", "application/zip", mixed)), MailLimits(zip_max_ratio=200.0))
    assert [a.filename for a in parsed.media] == ["real.png"]
    assert any("'zeros.png' skipped (compression ratio" in w for w in parsed.warnings)


def test_zip_symlinks_and_encrypted_members_are_skipped() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        link = zipfile.ZipInfo("link.png")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("locked.png", b"ciphertext")
        archive.writestr("ok.png", image_bytes((1, 1, 1)))
    data = bytearray(out.getvalue())
    # Mark locked.png as encrypted in the central directory (zipfile cannot write encrypted members).
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(b"locked.png"))
    data[entry + 8] |= 0x1
    parsed = parse_order_mail(mail_with(("a.zip", "application/zip", bytes(data))))
    assert [a.filename for a in parsed.media] == ["ok.png"]
    assert any("'link.png' skipped (symbolic link)" in w for w in parsed.warnings)
    assert any("'locked.png' skipped (encrypted)" in w for w in parsed.warnings)


def test_broken_zip_is_kept_with_a_warning() -> None:
    parsed = parse_order_mail(mail_with(("broken.zip", "application/zip", b"PK\x03\x04" + b"\x00" * 40)))
    assert parsed.media == []
    assert any("broken.zip" in w for w in parsed.warnings)
    assert parsed.attachments[0].filename == "broken.zip"


def test_csv_of_links_and_hashes() -> None:
    table = (
        "No;Message link;Description;SHA-256;PDQ\n"
        f"1;https://t.me/c/900/1;first;{SHA};{PDQ}\n"
        "2;https://t.me/c/900/2;second;;\n"
        "3;not a link;see https://t.me/c/900/3 too;;\n"
        f"4;;md5 in another column {MD5};;\n"
    ).encode("utf-8-sig")
    parsed = parse_order_mail(mail_with(("items.csv", "text/csv", table), body="List attached."))

    assert parsed.links == ["https://t.me/c/900/1", "https://t.me/c/900/2", "https://t.me/c/900/3"]
    assert parsed.hashes == [ExtractedHash("sha256", SHA), ExtractedHash("pdq", PDQ), ExtractedHash("md5", MD5)]
    [csv_file] = parsed.attachments
    assert csv_file.skipped_reason == "list: read for links and hashes"


def test_csv_without_header_and_in_a_legacy_charset() -> None:
    table = "https://t.me/c/1/1,피해자 사진\nhttps://t.me/c/1/2,두번째\n".encode("cp949")
    parsed = parse_order_mail(mail_with(("목록.csv", "application/octet-stream", table)))
    assert parsed.links == ["https://t.me/c/1/1", "https://t.me/c/1/2"]
    assert parsed.attachments[0].filename == "목록.csv"


def test_body_links_come_before_attachment_links() -> None:
    table = b"url\nhttps://t.me/c/2/2\n"
    parsed = parse_order_mail(mail_with(("l.csv", "text/csv", table), body="First https://t.me/c/1/1"))
    assert parsed.links == ["https://t.me/c/1/1", "https://t.me/c/2/2"]


def test_attachment_limits() -> None:
    files = [(f"{n}.png", "image/png", image_bytes((n, 0, 0), size=(4, 4))) for n in range(5)]
    parsed = parse_order_mail(mail_with(*files), MailLimits(max_attachments=3))
    assert len(parsed.attachments) == 3
    assert any("2 further attachments ignored" in w for w in parsed.warnings)
    big = mail_with(("huge.png", "image/png", image_bytes((1, 1, 1), size=(300, 300))))
    parsed = parse_order_mail(big, MailLimits(max_attachment_bytes=100))
    assert parsed.media == []
    assert parsed.attachments[0].skipped_reason == "too large to read"
