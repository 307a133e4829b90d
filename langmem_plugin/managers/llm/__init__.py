"""Any LangChain chat model as the memory manager: prompts, structured output, the manager."""
