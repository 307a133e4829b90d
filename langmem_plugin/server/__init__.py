"""Memory as a shared service: `langmem-plugin serve` (REST under /v1, MCP at /mcp, MCP over stdio)
with API keys whose grants decide the scope of every call.

Importing this package imports nothing else: `server.namespaces` is read by the purge, which must
not load the web framework. See docs/server.md.
"""
