"""How routes get what they need: typed components, and a session whose transaction the request owns.

The composition root (``firebreak.bootstrap``) builds every component once and registers it on the application by its
type; a route asks for exactly the components it uses::

    def route(desk: Annotated[OrderDesk, Provide(OrderDesk)], session: SessionDep) -> ...

Nothing here knows a domain: a component is any object, found by the class it was registered under.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from sqlalchemy.orm import Session

from firebreak.core.clock import Clock
from firebreak.core.config import Settings
from firebreak.core.db.session import Database

T = TypeVar("T")
_STATE = "firebreak_components"


class Components:
    """The components of one application, by the type they were registered under."""

    def __init__(self) -> None:
        self._by_type: dict[type[Any], object] = {}

    def add(self, kind: type[T], component: T) -> None:
        if kind in self._by_type:
            raise ValueError(f"component {kind.__name__} registered twice")
        self._by_type[kind] = component

    def get(self, kind: type[T]) -> T:
        try:
            found: T = self._by_type[kind]  # type: ignore[assignment]
        except KeyError:
            raise LookupError(f"no component {kind.__name__} is registered") from None
        return found

    def __contains__(self, kind: type[Any]) -> bool:
        return kind in self._by_type


def install(app: FastAPI, components: Components) -> None:
    setattr(app.state, _STATE, components)


def components_of(app: FastAPI) -> Components:
    found: Components = getattr(app.state, _STATE)
    return found


_providers: dict[type[Any], Callable[[Request], Any]] = {}


def Provide(kind: type[T]) -> Any:  # noqa: N802 - reads like FastAPI's Depends
    """A dependency giving the component registered under ``kind``."""
    provider = _providers.get(kind)
    if provider is None:
        async def provider(request: Request) -> Any:  # async: no thread-pool hop for a dictionary look-up
            return components_of(request.app).get(kind)

        provider.__name__ = f"provide_{kind.__name__}"
        _providers[kind] = provider
    return Depends(provider)


def db_session(db: Annotated[Database, Provide(Database)]) -> Iterator[Session]:
    """The request owns the transaction: commit when the route returns, before the response is sent."""
    session = db.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(db_session, scope="function")]
DatabaseDep = Annotated[Database, Provide(Database)]
ClockDep = Annotated[Clock, Provide(Clock)]
SettingsDep = Annotated[Settings, Provide(Settings)]

__all__ = ["ClockDep", "Components", "DatabaseDep", "Provide", "SessionDep", "SettingsDep", "components_of",
           "install"]
