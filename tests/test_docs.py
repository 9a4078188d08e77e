"""The docs stay true: every relative link and anchor in README.md and docs/ resolves, the settings reference is
`tap-cohorts --about --format=markdown`, and the front page lists every stream and dbt model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tap_cohorts.tap import TapCohorts
from tests.test_cli import ROOT, tap

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(path: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for line in prose(path):
        heading = re.match(r"#{1,6} (.+)", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower().replace("`", ""))
            found.add(text.replace(" ", "-"))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for line in prose(page):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):
                continue  # another site: not checked offline
            file, _, anchor = target.partition("#")
            destination = (page.parent / file).resolve() if file else page
            if not destination.exists():
                broken.append(f"{target}: no file {destination.relative_to(ROOT)}")
            elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
                broken.append(f"{target}: no heading #{anchor} in {destination.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_doc_page_is_reached_from_the_readme() -> None:
    linked = set()
    for page in PAGES:
        for target in LINK.findall("\n".join(prose(page))):
            file = target.partition("#")[0]
            if file and not re.match(r"[a-z]+:", file):
                linked.add((page.parent / file).resolve())
    assert [str(p.relative_to(ROOT)) for p in PAGES[1:] if p.resolve() not in linked] == []


def settings_table(markdown: str) -> list[str]:
    """The first table after the `Settings` heading, as lines."""
    lines = re.split(r"^#+ Settings$", markdown, maxsplit=1, flags=re.M)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i, line in enumerate(lines[start:], start) if not line.startswith("|")), len(lines))
    return lines[start:end]


def test_the_settings_reference_is_the_about_output() -> None:
    about = tap("--about", "--format=markdown").stdout
    assert settings_table(about) == settings_table((ROOT / "docs" / "settings.md").read_text())


def test_the_readme_and_the_streams_page_list_every_stream_and_model() -> None:
    """Every stream any config can bring (the Braze export and Adjust trackers included), and every dbt model."""
    # Secrets of their own length: the redaction filter keeps every secret it has seen for the whole test run.
    config = {
        "appsflyer": {"api_token": "docs-test-appsflyer-token", "app_ids": ["a"], "kpis": ["sessions"]},
        "branch": {"access_token": "docs-test-branch-token", "organization_id": "o", "measures": ["OPEN"]},
        "adjust": {
            "api_token": "docs-test-adjust-token",
            "app_tokens": ["a"],
            "kpis": ["installs"],
            "tracker_tokens": ["x"],
        },
        "adjust_report": {"api_token": "docs-test-adjust-token", "app_tokens": ["a"]},
        "braze": {
            "api_key": "docs-test-braze-key",
            "app_group_id": "docs-test-group",
            "export_segment_ids": ["s"],
            "fields_to_export": ["email"],
        },
        "applovin": {"api_key": "docs-test-applovin-key"},
    }
    streams = set(TapCohorts(config=config).streams)
    models = {path.stem for path in (ROOT / "transform" / "models").rglob("*.sql")}
    readme = (ROOT / "README.md").read_text()
    streams_page = (ROOT / "docs" / "streams.md").read_text()
    assert [name for name in sorted(streams | models) if f"`{name}`" not in readme] == []
    assert [name for name in sorted(streams) if f"`{name}`" not in streams_page] == []
