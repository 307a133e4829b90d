"""LangChain and LangGraph integrations: tools, BaseStore adapter, tracing."""
