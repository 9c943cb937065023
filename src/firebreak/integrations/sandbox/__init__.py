"""The sandbox: a small messenger inside Firebreak, the platform of the demo and of most tests.

It is a *platform*, not part of Firebreak's domain: it talks to Firebreak only through
``firebreak.platform.link.FirebreakLink`` (upload scans and events in) and
``firebreak.integrations.sandbox.adapter.SandboxAdapter`` (actions out). See docs/sandbox.md.

Kept free of imports so that ``firebreak.schema.tables`` can load the tables without FastAPI.
"""
