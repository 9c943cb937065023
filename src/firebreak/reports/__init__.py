"""Victims' reports without an account: report and hashing pages, status links, clocks, victim banks.

See docs/victims.md.
"""
