"""Prints the requirements of the kurrentdbclient virtualenv, one a line.

They are the project's dependencies as pyproject.toml lists them, less esdbclient and
the grpcio-tools cap that exists only for esdbclient's grpcio, plus the kurrentdbclient
and test extras. .ci/venv-kurrentdbclient installs them; .ci/lock pins them.
"""

import re
import tomllib
from pathlib import Path

LEFT_OUT = ("esdbclient", "grpcio-tools")

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
extras = project["optional-dependencies"]
for requirement in [*project["dependencies"], *extras["kurrentdbclient"], *extras["test"]]:
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    if name and name.group().lower() not in LEFT_OUT:
        print(requirement)
