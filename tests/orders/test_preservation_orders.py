"""Preservation requests by e-mail: the wording that makes an order a preservation request (keep as evidence,
remove nothing). The order itself is tested in test_orders_api.py."""

from __future__ import annotations

from firebreak.mail.extract import requested_action


def test_preservation_wording_in_mail_is_recognised() -> None:
    assert requested_action("Preservation request under 18 U.S.C. 2703(f)") == "preserve"
    assert requested_action("Re: request to preserve records of account X") == "preserve"
    assert requested_action("증거 보전 요청: 딥페이크 게시물") == "preserve"
    assert requested_action("Removal order: sexual deepfakes of students") == "remove"
    assert requested_action("Please remove; we will preserve our own copies") == "remove"
