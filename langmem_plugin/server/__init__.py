"""Memory as a shared service: `langmem-plugin serve` (REST under /v1, MCP at /mcp, MCP over stdio)
with API keys whose grants decide the scope of every call.

Importing this package imports nothing else: the web framework loads only with the modules that
serve. Its key-value namespaces are declared in langmem_plugin/namespaces.py. See docs/server.md.
"""
