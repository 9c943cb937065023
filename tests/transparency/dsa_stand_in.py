"""A local stand-in for the DSA Transparency Database's submission API, for tests.

``POST /api/v1/statements`` with a bearer token and ``{"statements": [...]}`` (1 to 100), all or nothing: 201 with
the created statements, or 422 with ``errors.statement_<i>`` per statement, or with ``errors.existing_puids`` when a
puid was already used (within the request or before). The answers have the shapes of the real service.

Its rule checks are written here again, from the reference's field table, on purpose without importing Firebreak's
validator: the tests run both over the same cases, so each checks the other.

Faults on demand: ``fail_next`` answers the next requests with 500/429 (and Retry-After), ``drop_after_accept_next``
stores a batch and then closes the connection without an answer (the crash window between the database accepting
and the client recording), ``reject_puids`` refuses chosen statements as if by a rule the client does not know.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The allowed values, typed again from the reference's lists (not imported from firebreak).
_V = {
    "decision_visibility": """DECISION_VISIBILITY_CONTENT_REMOVED DECISION_VISIBILITY_CONTENT_DISABLED
        DECISION_VISIBILITY_CONTENT_DEMOTED DECISION_VISIBILITY_CONTENT_AGE_RESTRICTED
        DECISION_VISIBILITY_CONTENT_INTERACTION_RESTRICTED DECISION_VISIBILITY_CONTENT_LABELLED
        DECISION_VISIBILITY_OTHER""",
    "decision_monetary": "DECISION_MONETARY_SUSPENSION DECISION_MONETARY_TERMINATION DECISION_MONETARY_OTHER",
    "decision_provision": """DECISION_PROVISION_PARTIAL_SUSPENSION DECISION_PROVISION_TOTAL_SUSPENSION
        DECISION_PROVISION_PARTIAL_TERMINATION DECISION_PROVISION_TOTAL_TERMINATION""",
    "decision_account": "DECISION_ACCOUNT_SUSPENDED DECISION_ACCOUNT_TERMINATED",
    "account_type": "ACCOUNT_TYPE_BUSINESS ACCOUNT_TYPE_PRIVATE",
    "decision_ground": "DECISION_GROUND_ILLEGAL_CONTENT DECISION_GROUND_INCOMPATIBLE_CONTENT",
    "incompatible_content_illegal": "Yes No",
    "content_type": """CONTENT_TYPE_APP CONTENT_TYPE_AUDIO CONTENT_TYPE_IMAGE CONTENT_TYPE_PRODUCT
        CONTENT_TYPE_SYNTHETIC_MEDIA CONTENT_TYPE_TEXT CONTENT_TYPE_VIDEO CONTENT_TYPE_OTHER""",
    "category": """STATEMENT_CATEGORY_ANIMAL_WELFARE STATEMENT_CATEGORY_CONSUMER_INFORMATION
        STATEMENT_CATEGORY_CYBER_VIOLENCE STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN
        STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH
        STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS
        STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE
        STATEMENT_CATEGORY_OTHER_VIOLATION_TC STATEMENT_CATEGORY_PROTECTION_OF_MINORS
        STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY STATEMENT_CATEGORY_SCAMS_AND_FRAUD STATEMENT_CATEGORY_SELF_HARM
        STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS STATEMENT_CATEGORY_VIOLENCE""",
    "category_specification": """KEYWORD_ADULT_SEXUAL_MATERIAL KEYWORD_AGE_SPECIFIC_RESTRICTIONS
        KEYWORD_AGE_SPECIFIC_RESTRICTIONS_MINORS KEYWORD_ANIMAL_HARM KEYWORD_BIOMETRIC_DATA_BREACH
        KEYWORD_BULLYING_AGAINST_GIRLS KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL_DEEPFAKE
        KEYWORD_CONTENT_PROMOTING_EATING_DISORDERS KEYWORD_COORDINATED_HARM KEYWORD_COPYRIGHT_INFRINGEMENT
        KEYWORD_CYBER_BULLYING_INTIMIDATION KEYWORD_CYBER_HARASSMENT KEYWORD_CYBER_HARASSMENT_AGAINST_WOMEN
        KEYWORD_CYBER_INCITEMENT KEYWORD_CYBER_STALKING KEYWORD_CYBER_STALKING_AGAINST_WOMEN KEYWORD_DATA_FALSIFICATION
        KEYWORD_DEFAMATION KEYWORD_DESIGN_INFRINGEMENT KEYWORD_DISCRIMINATION KEYWORD_FEMALE_GENDERED_DISINFORMATION
        KEYWORD_GEOGRAPHIC_INDICATIONS_INFRINGEMENT KEYWORD_GEOGRAPHICAL_REQUIREMENTS
        KEYWORD_GOODS_SERVICES_NOT_PERMITTED KEYWORD_GROOMING_SEXUAL_ENTICEMENT_MINORS KEYWORD_HATE_SPEECH
        KEYWORD_HIDDEN_ADVERTISEMENT KEYWORD_HUMAN_EXPLOITATION KEYWORD_HUMAN_TRAFFICKING KEYWORD_ILLEGAL_ORGANIZATIONS
        KEYWORD_IMPERSONATION_ACCOUNT_HIJACKING KEYWORD_INAUTHENTIC_ACCOUNTS KEYWORD_INAUTHENTIC_LISTINGS
        KEYWORD_INAUTHENTIC_USER_REVIEWS KEYWORD_INCITEMENT_AGAINST_WOMEN KEYWORD_INCITEMENT_VIOLENCE_HATRED
        KEYWORD_INSUFFICIENT_INFORMATION_ON_TRADERS KEYWORD_LANGUAGE_REQUIREMENTS KEYWORD_MISINFORMATION_DISINFORMATION
        KEYWORD_MISLEADING_INFO_CONSUMER_RIGHTS KEYWORD_MISLEADING_INFO_GOODS_SERVICES KEYWORD_MISSING_PROCESSING_GROUND
        KEYWORD_NON_CONSENSUAL_IMAGE_SHARING KEYWORD_NON_CONSENSUAL_IMAGE_SHARING_AGAINST_WOMEN
        KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE KEYWORD_NON_CONSENSUAL_MATERIAL_DEEPFAKE_AGAINST_WOMEN
        KEYWORD_NONCOMPLIANCE_PRICING KEYWORD_NUDITY KEYWORD_PATENT_INFRINGEMENT KEYWORD_PHISHING
        KEYWORD_PROHIBITED_PRODUCTS KEYWORD_PYRAMID_SCHEMES KEYWORD_RIGHT_TO_BE_FORGOTTEN
        KEYWORD_RISK_ENVIRONMENTAL_DAMAGE KEYWORD_RISK_PUBLIC_HEALTH KEYWORD_SELF_MUTILATION KEYWORD_STALKING
        KEYWORD_SUICIDE KEYWORD_TERRORIST_CONTENT KEYWORD_TRADE_SECRET_INFRINGEMENT KEYWORD_TRADEMARK_INFRINGEMENT
        KEYWORD_TRAFFICKING_WOMEN_GIRLS KEYWORD_UNLAWFUL_SALE_ANIMALS KEYWORD_UNSAFE_CHALLENGES KEYWORD_UNSAFE_PRODUCTS
        KEYWORD_VIOLATION_EU_LAW KEYWORD_VIOLATION_NATIONAL_LAW KEYWORD_OTHER""",
    "source_type": "SOURCE_ARTICLE_16 SOURCE_TRUSTED_FLAGGER SOURCE_TYPE_OTHER_NOTIFICATION SOURCE_VOLUNTARY",
    "automated_detection": "Yes No",
    "automated_decision": "AUTOMATED_DECISION_FULLY AUTOMATED_DECISION_PARTIALLY AUTOMATED_DECISION_NOT_AUTOMATED",
    "territorial_scope": """AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE
        IS LI NO""",
    # ISO 639-1, upper case: the 183 two-letter codes.
    "content_language": """AA AB AE AF AK AM AN AR AS AV AY AZ BA BE BG BI BM BN BO BR BS CA CE CH CO CR CS CU CV CY
        DA DE DV DZ EE EL EN EO ES ET EU FA FF FI FJ FO FR FY GA GD GL GN GU GV HA HE HI HO HR HT HU HY HZ IA ID IE IG
        II IK IO IS IT IU JA JV KA KG KI KJ KK KL KM KN KO KR KS KU KV KW KY LA LB LG LI LN LO LT LU LV MG MH MI MK ML
        MN MR MS MT MY NA NB ND NE NG NL NN NO NR NV NY OC OJ OM OR OS PA PI PL PS PT QU RM RN RO RU RW SA SC SD SE SG
        SI SK SL SM SN SO SQ SR SS ST SU SV SW TA TE TG TH TI TK TL TN TO TR TS TT TW TY UG UK UR UZ VE VI VO WA WO XH
        YI YO ZA ZH ZU""",
}
ALLOWED: dict[str, frozenset[str]] = {name: frozenset(values.split()) for name, values in _V.items()}
ALLOWED["category_addition"] = ALLOWED["category"]

LISTS = {"decision_visibility", "content_type", "category_addition", "category_specification", "territorial_scope"}
TEXT_LIMITS = {
    "decision_visibility_other": 500, "decision_monetary_other": 500, "decision_ground_reference_url": 500,
    "illegal_content_legal_ground": 500, "illegal_content_explanation": 2000, "incompatible_content_ground": 500,
    "incompatible_content_explanation": 2000, "content_type_other": 500, "category_specification_other": 500,
    "decision_facts": 5000, "source_identity": 500, "puid": 500,
}
DATES = {"content_date": ("2000-01-01", "2038-01-01"), "application_date": ("2020-01-01", "2038-01-01"),
         "end_date_account_restriction": ("0001-01-01", "2038-01-01"),
         "end_date_monetary_restriction": ("0001-01-01", "2038-01-01"),
         "end_date_service_restriction": ("0001-01-01", "2038-01-01"),
         "end_date_visibility_restriction": ("0001-01-01", "2038-01-01")}
KNOWN = set(ALLOWED) | set(TEXT_LIMITS) | set(DATES) | {"content_id"}
MUST = ["decision_ground", "content_type", "category", "content_date", "application_date", "decision_facts",
        "source_type", "automated_detection", "automated_decision", "puid"]
FOUR = ["decision_visibility", "decision_monetary", "decision_provision", "decision_account"]
OTHERS = [("decision_visibility", "DECISION_VISIBILITY_OTHER"), ("decision_monetary", "DECISION_MONETARY_OTHER"),
          ("content_type", "CONTENT_TYPE_OTHER"), ("category_specification", "KEYWORD_OTHER")]
BY_GROUND = {
    "DECISION_GROUND_ILLEGAL_CONTENT": ["illegal_content_legal_ground", "illegal_content_explanation"],
    "DECISION_GROUND_INCOMPATIBLE_CONTENT": ["incompatible_content_ground", "incompatible_content_explanation"],
}


def _empty(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, str) and value.strip() == "")


def check_statement(doc: Any) -> dict[str, list[str]]:
    """Field -> what is wrong with it, as the service would answer; empty when the statement is good."""
    out: dict[str, list[str]] = {}

    def bad(name: str, text: str) -> None:
        out.setdefault(name, []).append(text)

    if not isinstance(doc, dict):
        return {"statement": ["The statement must be an object."]}
    s = {k: v for k, v in doc.items() if not _empty(v)}
    for name in s:
        if name not in KNOWN:
            bad(name, f"The {name} field is not part of the schema.")
    for name, value in list(s.items()):
        wants_list = name in LISTS
        ok = (isinstance(value, dict) if name == "content_id" else
              isinstance(value, list) and all(isinstance(x, str) for x in value) if wants_list else
              isinstance(value, str))
        if not ok and name in KNOWN:
            bad(name, f"The {name} field has the wrong type.")
            del s[name]
    for name in MUST:
        if name not in s and name not in out:
            bad(name, f"The {name} field is required.")
    if not any(n in s or n in out for n in FOUR):
        for n in FOUR:
            bad(n, f"The {n} field is required when none of the other decision fields are present.")
    for name, allowed in ALLOWED.items():
        if name in s:
            values = s[name] if name in LISTS else [s[name]]
            wrong = [v for v in values if v not in allowed]
            if wrong:
                bad(name, f"The selected {name} is invalid: {', '.join(wrong)}.")
            if name in LISTS and len(values) != len(set(values)):
                bad(name, f"The {name} field has a duplicate value.")
    for choice, other in OTHERS:
        text_field = choice + "_other"
        picked = s.get(choice)
        chosen = other in picked if isinstance(picked, list) else picked == other
        if chosen and text_field not in s and text_field not in out:
            bad(text_field, f"The {text_field} field is required when {choice} is {other}.")
        if not chosen and text_field in s:
            bad(text_field, f"The {text_field} field is prohibited unless {choice} is {other}.")
    ground = s.get("decision_ground")
    if ground in BY_GROUND:
        for name in BY_GROUND[ground]:
            if name not in s and name not in out:
                bad(name, f"The {name} field is required when decision ground is {ground}.")
        foreign = (BY_GROUND["DECISION_GROUND_INCOMPATIBLE_CONTENT"] + ["incompatible_content_illegal"]
                   if ground == "DECISION_GROUND_ILLEGAL_CONTENT" else BY_GROUND["DECISION_GROUND_ILLEGAL_CONTENT"])
        for name in foreign:
            if name in s:
                bad(name, f"The {name} field is prohibited when decision ground is {ground}.")
    for name, limit in TEXT_LIMITS.items():
        if isinstance(s.get(name), str) and len(s[name]) > limit:
            bad(name, f"The {name} field must not be greater than {limit} characters.")
    url = s.get("decision_ground_reference_url")
    if isinstance(url, str) and not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url):
        bad("decision_ground_reference_url", "The decision_ground_reference_url field must be a valid URL.")
    if s.get("content_type") == ["CONTENT_TYPE_SYNTHETIC_MEDIA"]:
        bad("content_type", "Synthetic media needs the type of medium it is (e.g. CONTENT_TYPE_IMAGE) as well.")
    seen_dates: dict[str, str] = {}
    for name, (low, high) in DATES.items():
        if name not in s:
            continue
        text = s[name]
        try:
            valid = bool(re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text)) and date.fromisoformat(text) is not None
        except ValueError:
            valid = False
        if not valid:
            bad(name, f"The {name} does not match the format YYYY-MM-DD.")
        elif not low <= text <= high:  # ISO dates compare as text
            bad(name, f"The {name} must be a date between {low} and {high}.")
        else:
            seen_dates[name] = text
    if seen_dates.get("content_date", "") > seen_dates.get("application_date", "9999"):
        bad("content_date", "The content_date must not be after the application_date.")
    if s.get("source_type") == "SOURCE_VOLUNTARY" and "source_identity" in s:
        bad("source_identity", "The source_identity field is prohibited when source type is SOURCE_VOLUNTARY.")
    if isinstance(s.get("puid"), str) and not re.fullmatch(r"[a-zA-Z0-9\-_]+", s["puid"]):
        bad("puid", "The puid field format is invalid.")
    cid = s.get("content_id")
    if isinstance(cid, dict) and (list(cid) != ["EAN-13"] or not re.fullmatch(r"[0-9]{13}", str(cid["EAN-13"]))):
        bad("content_id", "The content_id must be an EAN-13 of 13 digits.")
    for name, value in s.items():
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and re.search(r"\S@\S+\.[A-Za-z]{2,}", text):
                bad(name, f"The {name} field contains an e-mail address (personal data).")
    return out


@dataclass
class SeenRequest:
    puids: list[str]
    status: int | None  # None: the connection was dropped without an answer


@dataclass
class DsaStandIn:
    token: str = "stand-in-token"
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)  # puid -> statement as stored
    stored_order: list[str] = field(default_factory=list)
    requests: list[SeenRequest] = field(default_factory=list)
    reject_puids: set[str] = field(default_factory=set)
    attribute_errors: bool = True  # False: a 422 names no statement, only a message
    _failures: list[tuple[int, str | None]] = field(default_factory=list)
    _drops: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # --- faults ---------------------------------------------------------------------------------------------------
    def fail_next(self, count: int, status: int = 500, *, retry_after: str | None = None) -> None:
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def drop_after_accept_next(self, count: int = 1) -> None:
        with self._lock:
            self._drops += count

    # --- life -----------------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> DsaStandIn:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="dsa-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- the service ----------------------------------------------------------------------------------------------
    def handle(self, *, authorization: str | None, body: bytes) -> tuple[int, dict[str, Any] | None, dict[str, str]]:
        """(status, JSON answer or None to drop the connection, extra headers) for one POST."""
        if authorization != f"Bearer {self.token}":
            return 401, {"message": "Unauthenticated."}, {}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"message": "The body is not JSON."}, {}
        statements = payload.get("statements") if isinstance(payload, dict) else None
        puids = [str(s.get("puid")) for s in statements if isinstance(s, dict)] if isinstance(statements, list) else []
        with self._lock:
            seen = SeenRequest(puids, None)
            self.requests.append(seen)
            if self._failures:
                status, retry_after = self._failures.pop(0)
                seen.status = status
                return status, {"message": "Try again later."}, {"Retry-After": retry_after} if retry_after else {}
            if not isinstance(statements, list) or not 1 <= len(statements) <= 100:
                seen.status = 422
                return 422, {"message": "The statements field must have between 1 and 100 items.",
                             "errors": {"statements": ["The statements field must have between 1 and 100 items."]}}, {}
            errors: dict[str, dict[str, list[str]]] = {}
            for index, statement in enumerate(statements):
                problems = check_statement(statement)
                if isinstance(statement, dict) and statement.get("puid") in self.reject_puids:
                    problems.setdefault("puid", []).append("The statement is refused by a rule the client lacks.")
                if problems:
                    errors[f"statement_{index}"] = problems
            if errors:
                seen.status = 422
                if not self.attribute_errors:
                    return 422, {"message": "The given data was invalid."}, {}
                return 422, {"message": "The given data was invalid.", "errors": errors}, {}
            repeated = sorted({p for p in puids if p in self.stored or puids.count(p) > 1})
            if repeated:
                seen.status = 422
                message = "The platform identifier(s) are not all unique within this call."
                return 422, {"message": message, "errors": {"puid": [message], "existing_puids": repeated}}, {}
            created = []
            for statement in statements:
                stored = {**statement, "uuid": str(uuid.uuid4())}
                self.stored[statement["puid"]] = stored
                self.stored_order.append(statement["puid"])
                created.append(stored)
            if self._drops:
                self._drops -= 1
                return 201, None, {}  # stored, but the client never hears of it
            seen.status = 201
            return 201, {"statements": created}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/api/v1/statements":
                    self._answer(404, {"message": "Not found."}, {})
                    return
                status, answer, headers = stand_in.handle(authorization=self.headers.get("Authorization"), body=body)
                if answer is None:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._answer(status, answer, headers)

            def _answer(self, status: int, answer: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
