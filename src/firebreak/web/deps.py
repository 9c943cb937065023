"""Who is looking at a page, for the browser side: a logged-in staff member or authority contact.

Use in a page route::

    router = web_router()

    @router.get("/console/orders")
    def orders(request: Request, viewer: Annotated[Viewer, current_staff(Role.LIAISON, Role.ADMIN)]) -> Response:
        return render(request, "orders/list.html", {...})

``current_staff``/``current_contact`` send a browser that is not logged in to the login page (303), refuse a
staff member without the role (403), and check the CSRF token of every POST/PUT/PATCH/DELETE (form field
``csrf_token`` or header ``X-CSRF-Token``; 403 when missing or wrong). Routes made with ``web_router()`` show
refusals as HTML pages and keep the session cookie fresh; on a plain ``APIRouter`` the same refusals arrive as
problem details with the same status (and the ``Location`` of the login page).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from firebreak.api.deps import Principal
from firebreak.auth.models import CredentialScope, Role, StaffUser
from firebreak.authorities.models import AuthorityContact
from firebreak.core.http.deps import SessionDep
from firebreak.core.i18n import N_
from firebreak.web import session as web_session
from firebreak.web.templating import render

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STAFF_HOME, STAFF_LOGIN = "/console", "/console/login"
CONTACT_HOME, CONTACT_LOGIN = "/portal", "/portal/login"


class LoginRequired(HTTPException):
    def __init__(self, login_path: str, next_path: str | None = None) -> None:
        self.location = f"{login_path}?{urlencode({'next': next_path})}" if next_path else login_path
        super().__init__(303, "Please log in.", headers={"Location": self.location})


class WebForbidden(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(403, detail)


class WebNotFound(HTTPException):
    def __init__(self, detail: str = N_("There is no such page.")) -> None:
        super().__init__(404, detail)


@dataclass(frozen=True)
class Viewer:
    """The person a page is rendered for. Templates get it as ``viewer``."""

    kind: Literal["staff", "contact"]
    account_id: int  # StaffUser.id or AuthorityContact.id
    name: str
    login: str  # username or e-mail address
    role: Role | None = None  # staff only
    authority_id: int | None = None  # contacts only
    authority_name: str | None = None
    language: str | None = None  # contacts: their authority's language and time zone choose the portal's
    timezone: str | None = None

    @property
    def actor(self) -> str:
        """For audit events."""
        return f"staff:{self.account_id}" if self.kind == "staff" else f"contact:{self.account_id}"

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    @property
    def is_contact(self) -> bool:
        return self.kind == "contact"

    def has_role(self, *roles: Role) -> bool:
        return self.kind == "staff" and (not roles or self.role in roles)

    def principal(self) -> Principal:
        """The same person as an API principal, for services written against ``api.deps.Principal``."""
        if self.kind == "staff":
            return Principal(CredentialScope.STAFF, self.actor, role=self.role, staff_user_id=self.account_id)
        return Principal(CredentialScope.AUTHORITY, self.actor, authority_id=self.authority_id)


def safe_next(value: str | None, home: str) -> str:
    """Where to go after login: a path under ``home`` on this site, never another site."""
    if not value:
        return home
    parts = urlsplit(value)
    if (parts.scheme or parts.netloc or "\\" in value or value.startswith("//")
            or not (parts.path == home or parts.path.startswith(home + "/"))):
        return home
    return value


def _here(request: Request) -> str | None:
    if request.method not in SAFE_METHODS:
        return None
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def staff_viewer(request: Request, session: SessionDep) -> Viewer | None:
    """The logged-in staff member of this request, or None."""
    state = web_session.current(request)
    if state is None or state.kind != "staff" or state.account_id is None:
        return None
    user = session.get(StaffUser, state.account_id)
    keys = web_session.sessions_of(request).keys
    if user is None or not user.is_active or state.fingerprint != keys.fingerprint(user.password_hash):
        web_session.clear(request)
        return None
    return Viewer("staff", user.id, user.display_name, user.username, role=user.role)


def contact_viewer(request: Request, session: SessionDep) -> Viewer | None:
    """The logged-in authority contact of this request, or None."""
    state = web_session.current(request)
    if state is None or state.kind != "contact" or state.account_id is None:
        return None
    contact = session.get(AuthorityContact, state.account_id)
    keys = web_session.sessions_of(request).keys
    if (contact is None or not contact.is_active or not contact.password_hash or not contact.authority.is_active
            or state.fingerprint != keys.fingerprint(contact.password_hash)):
        web_session.clear(request)
        return None
    return Viewer("contact", contact.id, contact.name, contact.email, authority_id=contact.authority_id,
                  authority_name=contact.authority.name, language=contact.authority.language,
                  timezone=contact.authority.timezone)


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token a state-changing request carries (header, or form field ``csrf_token``)."""
    if request.method in SAFE_METHODS:
        return None
    if header := request.headers.get("x-csrf-token"):
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get("csrf_token")  # cached: the route's own Form() fields still work
        return value if isinstance(value, str) else None
    return None


CsrfDep = Annotated[str | None, Depends(submitted_csrf)]


def check_csrf(request: Request, submitted: str | None) -> None:
    if request.method not in SAFE_METHODS and not web_session.csrf_ok(request, submitted):
        raise WebForbidden("This form has expired or did not come from Firebreak. Go back, reload the page and "
                           "try again.")


def current_staff(*roles: Role) -> Any:
    """A dependency: the logged-in staff member (with one of ``roles``, if given)."""

    def dependency(request: Request, session: SessionDep, csrf: CsrfDep) -> Viewer:
        viewer = staff_viewer(request, session)
        if viewer is None:
            raise LoginRequired(STAFF_LOGIN, _here(request))
        request.state.viewer = viewer
        if not viewer.has_role(*roles):
            raise WebForbidden(f"This page needs the role {' or '.join(r.value for r in roles)}; "
                               f"you are {viewer.role.value if viewer.role else 'without a role'}.")
        check_csrf(request, csrf)
        return viewer

    return Depends(dependency)


def current_contact() -> Any:
    """A dependency: the logged-in authority contact."""

    def dependency(request: Request, session: SessionDep, csrf: CsrfDep) -> Viewer:
        viewer = contact_viewer(request, session)
        if viewer is None:
            raise LoginRequired(CONTACT_LOGIN, _here(request))
        request.state.viewer = viewer
        check_csrf(request, csrf)
        return viewer

    return Depends(dependency)


StaffViewer = Annotated[Viewer, current_staff()]
ContactViewer = Annotated[Viewer, current_contact()]


def ensure_own_authority(viewer: Viewer, authority_id: int | None) -> None:
    """Refuse, as "not found", anything of another authority: a contact never learns that it exists."""
    if viewer.is_contact and viewer.authority_id != authority_id:
        raise WebNotFound()


class WebRoute(APIRoute):
    """A page route: login redirects and refusals as HTML, and the session cookie on every response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginRequired as exc:
                response = RedirectResponse(exc.location, status_code=303)
            except (WebForbidden, WebNotFound) as exc:
                title = N_("Not allowed") if exc.status_code == 403 else N_("Not found")
                response = render(request, "error.html", {"title": title, "message": exc.detail},
                                  status_code=exc.status_code)
            web_session.apply_cookie(request, response)
            return response

        return handle


def web_router(**kwargs: Any) -> APIRouter:
    """An APIRouter for pages (left out of the OpenAPI document)."""
    kwargs.setdefault("include_in_schema", False)
    return APIRouter(route_class=WebRoute, **kwargs)
