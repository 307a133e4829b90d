"""The README's "own environment" install lines work as written, from a copy of the checkout.

The package is not on PyPI, so every line that installs it names the checkout or a wheel built
from it. pip resolves each such line offline (--dry-run --no-index --no-deps: the extras'
dependencies come from the registries, which `make test` installs for real); the wheel line runs
after the README's own `pip wheel` line.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OWN_ENVIRONMENT = re.compile(r"In your own environment instead of `\.venv`.*?(?=\n## )", re.S)
BASH = re.compile(r"```bash\n(.*?)```", re.S)


def install_lines() -> list[list[str]]:
    section = OWN_ENVIRONMENT.search((ROOT / "README.md").read_text())[0]
    commands = [line.split("#")[0].strip() for block in BASH.findall(section) for line in block.splitlines()]
    return [shlex.split(command) for command in commands if command.startswith("pip ")]


def checkout_copy(destination: Path) -> Path:
    """The files git tracks (or would), as a fresh clone of this working tree would have them."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def test_every_install_line_of_the_readme_resolves_from_a_checkout(tmp_path):
    lines = install_lines()
    packages = [args[-1] for args in lines if args[:2] == ["pip", "install"]]
    assert not [p for p in packages if p.startswith("langmem-plugin")], "langmem-plugin is not on the index"
    assert ".[local,langgraph]" in packages and any(p.startswith("dist/") for p in packages)
    checkout = checkout_copy(tmp_path / "checkout")
    pip = [sys.executable, "-m", "pip"]
    for args in lines:
        spec = args[-1]
        if args[:2] == ["pip", "wheel"]:
            subprocess.run(
                [*pip, *args[1:], "--no-build-isolation", "--no-index"],
                cwd=checkout,
                check=True,
                capture_output=True,
            )
            continue
        if not (spec.startswith(".") or spec.startswith("dist/")):
            continue  # from the index (the MiniLM weights): installed by `make install`
        wheel = re.sub(r"\[.*\]$", "", spec)
        assert spec.startswith(".") or (checkout / wheel).is_file(), (
            f"{wheel} is not what the README's pip wheel line builds"
        )
        report = tmp_path / "report.json"
        subprocess.run(
            [
                *pip,
                "install",
                "--dry-run",
                "--no-deps",
                "--no-index",
                "--no-build-isolation",
                "--report",
                str(report),
                spec,
            ],
            cwd=checkout,
            check=True,
            capture_output=True,
        )
        (install,) = json.loads(report.read_text())["install"]
        assert install["metadata"]["name"] == "langmem-plugin"
        assert (
            set(install["requested_extras"])
            == {"local", "langgraph"}
            <= set(install["metadata"]["provides_extra"])
        )
