"""The project's own promises: one dependency list for pip and conda, one test command for CI."""

import re
import tomllib
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
