"""The key-value namespaces the server keeps: declared with their purge rules in
langmem_plugin/namespaces.py (API keys and grants are kept by a purge, the access log is erased
with its scope), named here for the server's modules."""

from ..namespaces import ACCESS_LOG, API_KEYS, GRANTS, UI_SESSIONS

__all__ = ["ACCESS_LOG", "API_KEYS", "GRANTS", "UI_SESSIONS"]
