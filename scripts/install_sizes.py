"""How much disk the core install and each extra take: the installed files of every distribution each one
pulls in (its requirements, followed through), as recorded by pip in an environment that has them all.

Run it with the dev venv (`.venv/bin/python scripts/install_sizes.py [EXTRA...]`): the requirements are read
from pyproject.toml, the sizes from the packages installed in the running environment, and an extra's figure
is what it adds to the core (packages the core already has are not counted twice). A package of an extra that
is not installed in the running environment is not counted. Measure a real fresh venv with `du -sh` to
check the core's figure (a venv also holds pip itself, about 17 MB).
"""

from __future__ import annotations

import argparse
import json
from importlib import metadata
from pathlib import Path

import tomllib
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ENV = default_environment()
#: Distributions asked for that the running environment does not have (not counted).
MISSING: set[str] = set()
ROOT = Path(__file__).resolve().parents[1]


def _dist(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def closure(requirements: list[str], installed: set[str] | None = None) -> set[str]:
    """The canonical names of the distributions ``requirements`` install (with their extras), followed through
    their own requirements; ``installed`` are already there (their requirements are not followed again)."""
    seen, done = set(installed or ()), set()
    todo = [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        dist = _dist(name)
        if dist is None:
            MISSING.add(name)
            continue
        extras = {""} | set(requirement.extras)
        for extra in extras - {e for n, e in done if n == name}:
            done.add((name, extra))
            if extra == "" and name in seen and name in (installed or ()):
                continue
            for text in dist.requires or []:
                needed = Requirement(text)
                if needed.marker is None or needed.marker.evaluate({**ENV, "extra": extra}):
                    if extra == "" and needed.marker is not None and "extra" in str(needed.marker):
                        continue
                    todo.append(needed)
        seen.add(name)
    return seen


def size(names: set[str]) -> int:
    """Bytes on disk of the installed files of the distributions ``names``."""
    total = 0
    for name in names:
        dist = _dist(name)
        for file in (dist.files or []) if dist else []:
            path = Path(str(dist.locate_file(file)))
            if path.is_file() and ".." not in file.parts[:1]:  # scripts under bin/ are few and small
                total += path.stat().st_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extras", nargs="*", help="Extras to measure (default: all of pyproject.toml's).")
    args = parser.parse_args()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]  # not the installed metadata,
    extras: dict[str, list[str]] = project["optional-dependencies"]  # which an editable install may have kept

    def expand(requirements: list[str]) -> list[str]:
        """``requirements`` with facerec's own extras (``facerec[torch,plots]``) replaced by what they list."""
        out = []
        for text in requirements:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == "facerec":
                out += expand([r for extra in sorted(requirement.extras) for r in extras[extra]])
            else:
                out.append(text)
        return out

    core = closure(project["dependencies"])
    rows = {"core": size(core)}
    for extra in args.extras or list(extras):
        if extra not in extras:
            parser.error(f"unknown extra {extra!r}; known: {', '.join(extras)}")
        rows[f"[{extra}]"] = size(closure(expand(extras[extra]), core) - core)
    print(json.dumps({name: f"{value / 2**20:.0f}M" for name, value in rows.items()}, indent=2))  # as du -sh
    if MISSING:
        print(f"not installed here, not counted: {', '.join(sorted(MISSING))}")


if __name__ == "__main__":
    main()
