"""Matrix (Synapse) integration: a Synapse module that reports to Firebreak, and an adapter that acts on Synapse.

Nothing is imported here on purpose: Synapse loads ``synapse_module`` without httpx or pydantic, and Firebreak
loads ``adapter`` without Synapse.
"""
