"""Where every domain's jobs are registered under their stable names."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from firebreak.runtime import Runtime


def register_all_jobs(runtime: Runtime) -> None:
    from firebreak.audit import jobs as audit_jobs
    from firebreak.enforcement import jobs as enforcement_jobs
    from firebreak.orders import jobs as order_jobs
    from firebreak.platform import jobs as platform_jobs

    audit_jobs.register(runtime)
    enforcement_jobs.register(runtime)
    order_jobs.register(runtime)
    platform_jobs.register(runtime)
