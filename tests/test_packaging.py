"""Every package folder is in pyproject's ``packages``, and every data file beside the code in its
``package-data``: an editable install finds a forgotten one anyway, so only a wheel (what users
install) would ship without it."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = set()
    for name, folder in setuptools["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([name, *rel.parts]))
    assert found - listed == set(), f"package folders missing from pyproject's packages: {sorted(found - listed)}"


def test_every_data_file_the_code_reads_ships_in_the_wheel():
    """A file beside the code (kernel sources, tables, schemas) that no package-data glob matches is
    absent from a wheel: the C kernels would silently fall back to numpy, a table would be missing."""
    import fnmatch
    import subprocess

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    data, dirs = setuptools["package-data"], setuptools["package-dir"]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    missing = []
    for package in setuptools["packages"]:
        root = next(n for n in sorted(dirs, key=len, reverse=True) if package == n or package.startswith(n + "."))
        folder = Path(dirs[root]).joinpath(*package[len(root) + 1:].split(".")) if package != root else Path(dirs[root])
        for path in tracked:
            p = Path(path)
            shipped = any(fnmatch.fnmatch(p.name, glob) for glob in data.get(package, []))
            if p.parent == folder and p.suffix not in (".py", ".md") and not shipped:
                missing.append(f"{path} (package {package})")
    assert not missing, f"files no package-data glob ships: {missing}"
