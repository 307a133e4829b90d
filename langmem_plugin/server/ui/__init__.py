"""The memory inspector: server-rendered pages under /ui (routes.py) behind browser sessions
opened with an API key (sessions.py); every page and action is a `MemoryActions` call."""
