"""Korea's yearly transparency report on digital sex crime content (불법촬영물등), due by 31 January for the year
before under the Network Act (정보통신망법 제64조의5): the figures Firebreak holds, as a table in Korean.

Build the report for the calendar year with ``CATEGORIES`` (child sexual abuse material, non-consensual intimate
imagery, sexual deepfakes); the provider adds what Firebreak does not hold (its measures, staff, training, the
officer responsible) in the parts of the report outside this table.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

from firebreak.transparency_reports.service import Durations, Report

CATEGORIES = ("csam", "ncii", "sexual_deepfake")
CATEGORY_NAMES = {"csam": "아동·청소년성착취물", "ncii": "불법촬영물 (비동의 촬영·유포물)",
                  "sexual_deepfake": "허위영상물 (성적 딥페이크)", "unspecified": "분류 없음"}


@dataclass(frozen=True)
class Line:
    group: str
    item: str
    value: str
    note: str = ""


def duration_ko(seconds: float | None) -> str:
    """Seconds as a Korean reader expects them: "45초", "12분", "3시간 5분", "2일 4시간"."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total}초"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes}분"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}시간 {minutes}분" if minutes else f"{hours}시간"
    days, hours = divmod(hours, 24)
    return f"{days}일 {hours}시간" if hours else f"{days}일"


def _times(label: str, durations: Durations) -> list[Line]:
    return [Line("처리 소요 시간", f"{label} (중앙값)", duration_ko(durations.median_seconds),
                 f"{durations.count}건 기준"),
            Line("처리 소요 시간", f"{label} (90번째 백분위)", duration_ko(durations.p90_seconds))]


def lines(report: Report) -> list[Line]:
    o, r, v = report.orders, report.removals, report.victim_reports
    last = (report.end - timedelta(days=1)).date()
    out = [
        Line("보고 개요", "보고 기간", f"{report.start.date().isoformat()} ~ {last.isoformat()}"),
        Line("보고 개요", "서비스", report.platform),
        Line("보고 개요", "사업자", report.provider),
        Line("보고 개요", "대상 유형", ", ".join(CATEGORY_NAMES.get(c, c) for c in report.categories or CATEGORIES)),
        Line("신고·삭제요청 접수", "전체 접수 건수", f"{o.received + v.received:,}건",
             "기관·단체 요청과 이용자(피해자 등) 신고의 합"),
        Line("신고·삭제요청 접수", "기관·단체의 삭제요청", f"{o.received:,}건",
             "방송통신심의위원회, 수사기관 등 (기관별 내역은 아래)"),
    ]
    out += [Line("신고·삭제요청 접수", f"  └ {row.key}", f"{row.count:,}건", row.country) for row in o.by_authority]
    out += [
        Line("신고·삭제요청 접수", "이용자(피해자 등)의 신고", f"{v.received:,}건", "피해 당사자·보호자 등의 신고"),
    ]
    out += [Line("신고·삭제요청 접수", f"  └ {CATEGORY_NAMES.get(row.key, row.key)}", f"{row.count:,}건")
            for row in v.by_category]
    out += [
        Line("처리 결과", "요청 대상 게시물 수", f"{o.items:,}건", "기관·단체 요청에 포함된 게시물"),
        Line("처리 결과", "삭제", f"{o.items_removed:,}건"),
        Line("처리 결과", "접속차단 (해당 국가 제한)", f"{o.items_geo_restricted:,}건"),
        Line("처리 결과", "요청 전 이미 삭제됨", f"{o.items_already_removed:,}건"),
        Line("처리 결과", "서비스에서 확인되지 않음", f"{o.items_not_found:,}건"),
        Line("처리 결과", "조치하지 않음", f"{o.items_declined:,}건", "사유는 요청 기관에 회신"),
        Line("처리 결과", "처리 중", f"{o.items_pending:,}건"),
        Line("처리 결과", "이용자 신고 중 조치 완료", f"{v.actioned:,}건"),
        Line("처리 결과", "이용자 신고 중 조치하지 않음", f"{v.declined:,}건"),
        Line("삭제·차단 조치", "삭제된 게시물 (전체)", f"{r.content_removed:,}건"),
        Line("삭제·차단 조치", "  └ 요청 대상 게시물", f"{r.ordered_items_removed:,}건"),
        Line("삭제·차단 조치", "  └ 동일·유사 복제물 (해시 대조로 발견)", f"{r.copies_removed:,}건"),
        Line("삭제·차단 조치", "  └ 검토자 결정", f"{r.removed_on_decision:,}건"),
        Line("삭제·차단 조치", "대화방 이용 정지", f"{r.chats_suspended:,}건"),
        Line("삭제·차단 조치", "계정 이용 제한·정지", f"{r.accounts_restricted + r.accounts_suspended:,}건"),
    ]
    out += _times("접수부터 접수 확인까지", o.time_to_acknowledge)
    out += _times("접수부터 조치까지", o.time_to_act)
    out += _times("이용자 신고 접수부터 처리까지", v.time_to_outcome)
    out += [
        Line("재유통 방지", "재업로드 차단·즉시 삭제", f"{r.reuploads_caught:,}건",
             "삭제된 게시물과 같거나 유사한 파일이 다시 게시되어 바로 삭제된 건수"),
        Line("재유통 방지", "업로드 차단", f"{r.uploads_refused:,}건",
             "업로드 검사에서 거부되거나 게시 즉시 삭제된 건수"),
        Line("재유통 방지", "필터링 방식", "SHA-256·MD5 완전 일치, PDQ 지각 해시 (회전·반전 포함)",
             "삭제 요청된 게시물은 해시로 등록되어 복제물과 재업로드를 찾음"),
        Line("기타", "조치 실패 (재시도 후)", f"{r.failed_total:,}건"),
    ]
    return out


def to_csv(report: Report) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["구분", "항목", "값", "비고"])
    for line in lines(report):
        writer.writerow([line.group, line.item, line.value, line.note])
    # With a byte order mark: spreadsheet programs in Korea open the file as UTF-8 only then.
    return "\ufeff".encode() + buf.getvalue().encode()


def to_html(report: Report) -> bytes:
    from firebreak.web.templating import env

    return env.get_template("transparency_reports/korea.html").render(report=report, lines=lines(report)).encode()
