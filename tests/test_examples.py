"""Every example runs offline, as a user would run it."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize(
    "script, expected",
    [
        ("chatbot_remembers.py", "User is a vegetarian."),
        ("agent_with_memory_tools.py", "Your daughter is Mia."),
        ("classic_chain_memory.py", "User has a cat named Tofu."),
    ],
)
def test_example_runs(script, expected):
    completed = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert expected in completed.stdout, completed.stdout
