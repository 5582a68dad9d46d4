"""environment.yml mirrors pyproject.toml, and torch stays bounded to the CPU wheel on disk."""

import tomllib
import yaml
from conftest import REPO


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_environment_yml_lists_exactly_the_pyproject_dependencies():
    project = pyproject()["project"]
    wanted = (
        set(project["dependencies"])
        | set(project["optional-dependencies"]["cpu"])
        | set(project["optional-dependencies"]["dev"])
    )
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    (pip_block,) = [item["pip"] for item in environment["dependencies"] if isinstance(item, dict)]
    assert set(pip_block) - {"-e ."} == wanted


def test_torch_is_never_an_unbounded_requirement():
    project = pyproject()["project"]
    assert not any(dep.startswith("torch") for dep in project["dependencies"])
    assert project["optional-dependencies"]["cpu"] == ["torch>=2.6,<=2.13.0"]
