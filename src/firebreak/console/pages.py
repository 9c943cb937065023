"""Rendering a console page: the layout's navigation shows the sections the viewer's role reaches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from firebreak.web.deps import Viewer
from firebreak.web.routes import CONSOLE_SECTIONS, Section
from firebreak.web.templating import render


def sections_for(viewer: Viewer | None) -> list[Section]:
    return [s for s in CONSOLE_SECTIONS if viewer is not None and viewer.has_role(*s.roles)]


def page(request: Request, name: str, context: Mapping[str, Any], *, current: str, status_code: int = 200,
         headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """Render ``console/<name>`` with the navigation (``nav``, ``current``)."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    return render(request, f"console/{name}", {"nav": sections_for(viewer), "current": current, **context},
                  status_code=status_code, headers=headers)
