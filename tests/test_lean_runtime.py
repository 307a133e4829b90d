"""The runtime package stays lean: `import langmem_plugin`, its CLI and a command never load the
benchmark harness (langmem_plugin_bench) or the packages of the `bench` extra, from a checkout or
from the installed wheel, which still ships the harness that `langmem-plugin bench` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from .test_readme_install import checkout_copy

ROOT = Path(__file__).resolve().parents[1]

LOADED_BY_A_COMMAND = """
import json, sys
import langmem_plugin
from langmem_plugin.cli import main
status = main(["--path", sys.argv[1], "list", "--user-id", "alice"])
print(json.dumps({"status": status, "package": langmem_plugin.__file__, "modules": sorted(sys.modules)}))
"""


def bench_extra_modules() -> set[str]:
    """The top-level modules of the `bench` extra's distributions, as installed here."""
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"]
    names = {Requirement(spec).name.lower().replace("_", "-") for spec in extra}
    return {
        module
        for module, distributions in packages_distributions().items()
        if any(d.lower().replace("_", "-") in names for d in distributions)
    }


def loaded_by_a_command(python_path: Path, store: Path) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(python_path)}
    result = subprocess.run(
        [sys.executable, "-c", LOADED_BY_A_COMMAND, str(store)],
        cwd=store.parent, capture_output=True, text=True, env=environment, timeout=120, check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


def bench_modules_in(modules: list[str]) -> list[str]:
    forbidden = bench_extra_modules() | {"langmem_plugin_bench"}
    return [m for m in modules if m.split(".")[0] in forbidden]


def test_the_bench_extra_is_known_here():
    """The check below means something only if the extra's modules are resolved."""
    assert {"matplotlib", "bm25s", "langgraph"} <= bench_extra_modules()


def test_the_runtime_and_its_cli_load_no_bench_code(tmp_path):
    loaded = loaded_by_a_command(ROOT, tmp_path / "store")
    assert loaded["status"] == 0 and loaded["package"].startswith(str(ROOT / "langmem_plugin"))
    assert "langmem_plugin.cli" in loaded["modules"]
    assert bench_modules_in(loaded["modules"]) == []


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """This checkout built into a wheel and installed (without dependencies) into a folder."""
    work = tmp_path_factory.mktemp("wheel")
    checkout = checkout_copy(work / "checkout")
    pip = [sys.executable, "-m", "pip", "-q"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(work / "dist"), "."]
    subprocess.run(build, cwd=checkout, check=True, capture_output=True, timeout=300)
    [wheel] = (work / "dist").glob("langmem_plugin-*.whl")
    target = work / "site"
    install = [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    return target


def test_the_installed_package_loads_no_bench_code(installed_wheel, tmp_path):
    loaded = loaded_by_a_command(installed_wheel, tmp_path / "store")
    assert loaded["status"] == 0 and loaded["package"].startswith(str(installed_wheel))
    assert bench_modules_in(loaded["modules"]) == []


def test_the_installed_wheel_ships_the_harness_the_bench_command_runs(installed_wheel, tmp_path):
    environment = {**os.environ, "PYTHONPATH": str(installed_wheel)}
    script = (
        "import sys, langmem_plugin_bench; from langmem_plugin.cli import main; "
        "print(langmem_plugin_bench.__file__); sys.exit(main(['bench', 'locomo', '--help']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=environment, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(installed_wheel / "langmem_plugin_bench"))
    assert "usage: langmem-plugin bench locomo" in result.stdout


def test_bench_without_its_package_names_the_fix_and_exits_2():
    script = (
        "import sys; sys.modules['langmem_plugin_bench'] = None; from langmem_plugin.cli import main; "
        "sys.exit(main(['bench', 'locomo', '--help']))"
    )
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: bench needs the langmem_plugin_bench package")
    assert 'pip install -e ".[bench]"' in result.stderr
