"""Transparency reports from Firebreak's records: its own report, the EU harmonised template, Korea's yearly report."""
