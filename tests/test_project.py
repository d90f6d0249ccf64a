"""The project's own promises: one dependency list for pip and conda, one test command for CI."""

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        listed += [r for r in extra if not r.startswith("convops[")]
    return {Requirement(r).name: Requirement(r) for r in listed}


def _conda_requirements() -> dict[str, Requirement]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    return {Requirement(r).name: Requirement(r) for r in pip if not r.startswith("-e")}


def test_environment_yml_lists_what_pyproject_lists():
    pyproject, conda = _pyproject_requirements(), _conda_requirements()
    assert set(conda) == set(pyproject)
    for name, requirement in conda.items():
        if name == "torch":  # conda pins the CPU build; pyproject's range must admit it
            assert str(requirement.specifier) == "==2.13.0"
            assert pyproject["torch"].specifier.contains("2.13.0")
        else:
            assert requirement == pyproject[name], name


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
    test_command = next(c for c in commands if "test" in c)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()


def test_setup_installs_the_cpu_torch_before_the_project():
    makefile = (ROOT / "Makefile").read_text()
    torch_line = makefile.index("pip install --quiet torch==2.13.0")
    assert torch_line < makefile.index('pip install --quiet -e ".[dev]"')


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_the_symbolic_core_imports_no_torch():
    for module in ("convops.derivation", "convops.symbols", "convops.additions", "convops"):
        assert "torch" not in _modules_after(f"import {module}"), module
    assert "torch" in _modules_after("import convops; convops.profile")  # loaded when used


def test_the_wheel_holds_the_library_only(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("convops-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = {n for n in names if n.endswith(".py")}
    assert modules == {f"convops/{p.relative_to(ROOT / 'convops').as_posix()}"
                       for p in (ROOT / "convops").rglob("*.py")}
    assert "convops/symbolic/tracing.py" in modules  # the subpackages too
    assert "convops/py.typed" in names and any(n.endswith("licenses/LICENSE") for n in names)
    assert "convops/runtime.js" in names  # what printed JavaScript calls
    metadata = next(n for n in names if n.endswith("METADATA"))
    requires = [line for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert sorted(r.split()[1].split(">")[0].split("<")[0] for r in requires) == ["sympy", "torch"]


def test_the_readme_layout_table_matches_the_tree():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Layout"):]
    listed = {path.strip("/") for cell in re.findall(r"^\| (.*?) \|", table, re.M)
              for path in re.findall(r"`([^`]+)`", cell)}
    assert all((ROOT / path).exists() for path in listed), listed
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    top_dirs = {path.split("/")[0] for path in tracked if "/" in path and not path.startswith(".")}
    assert top_dirs <= listed, top_dirs - listed


def test_the_public_api_is_sorted_and_importable():
    import convops

    assert convops.__all__ == sorted(convops.__all__)
    assert all(getattr(convops, name) is not None for name in convops.__all__)


def test_the_cli_stops_quietly_when_its_reader_does():
    # `convops formula ... | head -1` after head has exited: stdout is a pipe with no reader.
    script = ("import os, sys; r, w = os.pipe(); os.close(r); os.dup2(w, 1); "
              "from convops.cli import main; sys.exit(main(['formula', 'ConvTranspose3d']))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")
