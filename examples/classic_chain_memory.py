"""A classic LangChain chain with langmem-plugin as its BaseMemory.

    python examples/classic_chain_memory.py
"""

import tempfile

from langchain_classic.chains import LLMChain
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.prompts import PromptTemplate

from langmem_plugin import LangMemBaseMemory, Memory

with Memory({"path": tempfile.mkdtemp(prefix="classic-")}) as memory:
    chain = LLMChain(
        llm=FakeListLLM(responses=["Nice, noted.", "Your cat is called Tofu."]),
        prompt=PromptTemplate.from_template("{memories}\nUser: {input}\nAI:"),
        memory=LangMemBaseMemory(memory=memory, user_id="lee"),
        output_key="output",
    )
    chain.invoke({"input": "I have a cat named Tofu."})
    result = chain.invoke({"input": "What is my cat called?"})
    print("memories given to the prompt:\n" + result["memories"])
    print("answer:", result["output"])
