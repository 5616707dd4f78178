"""The docs site: pages generated from the strategy, in its language, built strictly by mkdocs."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from typer.testing import CliRunner

from schemas import RULES, Strategy, load_strategy
from schemas.ropa import CSV_COLUMNS
from tietotie.cli import get_app
from tietotie.docsite import DocsBuildError, GeneratedSite, build_site, generate_site
from tietotie.docsite.labels import Labels, humanise_duration
from tietotie.docsite.md import esc
from tietotie.docsite.rules import rules_markdown

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "strategy"
B2B = REPO / "tests" / "examples" / "b2b-wholesaler"
MINIMAL = REPO / "tests" / "schemas" / "minimal"


def _strategy(path: Path) -> Strategy:
    result = load_strategy(path)
    assert result.strategy is not None
    return result.strategy


@pytest.fixture(scope="module")
def bundled() -> Strategy:
    return _strategy(BUNDLED)


@pytest.fixture(scope="module")
def bundled_site(bundled: Strategy) -> GeneratedSite:
    return generate_site(bundled)


def _mkdocs_build(strategy: Path, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TIETOTIE_STRATEGY": str(strategy), "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(REPO / "mkdocs.yml"),
            "--site-dir",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


class _Html(HTMLParser):
    """Collects ids and hrefs of a built page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.svg_hrefs: list[str] = []
        self._in_svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if anchor := a.get("id"):
            self.ids.add(anchor)
        if tag == "svg":
            self._in_svg += 1
        if tag == "a" and self._in_svg and (href := a.get("href")):
            self.svg_hrefs.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._in_svg -= 1


def _parse(path: Path) -> _Html:
    parser = _Html()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


# ── generated pages ──────────────────────────────────────────────────────────────────────────


def test_the_bundled_strategy_is_described_in_finnish(bundled_site: GeneratedSite) -> None:
    """Navigation and page titles of the Finnish example read in Finnish."""
    titles = str(bundled_site.nav)
    for label in (
        "Kenttäluettelo",
        "Säilytysajat",
        "Käsittelytoimien seloste",
        "Käyttöoikeusmatriisi",
        "Suostumukset",
    ):
        assert label in titles
    assert bundled_site.language == "fi"
    assert bundled_site.files["registers/retention.md"].startswith("# Säilytysajat")


def test_the_b2b_example_is_described_in_english() -> None:
    """A strategy whose controller writes English gets English labels."""
    site = generate_site(_strategy(B2B))
    assert site.language == "en"
    assert "Field catalogue" in str(site.nav) and "Access matrix" in str(site.nav)
    assert "Kenttäluettelo" not in str(site.nav)


def test_every_field_is_in_the_catalogue_with_its_category(
    bundled: Strategy, bundled_site: GeneratedSite
) -> None:
    """Each entity's page lists each of its fields, anchored by name, with the category label."""
    labels = Labels("fi")
    for entity, spec in bundled.system.entities.items():
        page = bundled_site.files[f"fields/{entity}.md"]
        rows = {line.split("|")[1]: line for line in page.splitlines() if "{ #" in line}
        for name, field in spec.fields.items():
            row = next(line for key, line in rows.items() if f"{{ #{name} }}" in key)
            assert labels.value("category", field.category) in row


def test_the_catalogue_names_each_field_by_its_label_beside_its_id(
    bundled: Strategy, bundled_site: GeneratedSite
) -> None:
    """Each field's row has a Nimi column holding its Finnish label; the retention schedule and
    the reports read "label (`entity.field`)"; an unlabelled English strategy shows the name
    humanised."""
    page = bundled_site.files["fields/visit.md"]
    header = next(line for line in page.splitlines() if line.startswith("| Kenttä"))
    assert [c.strip() for c in header.split("|")[1:3]] == ["Kenttä", "Nimi"]
    for name, spec in bundled.system.entities["visit"].fields.items():
        row = next(line for line in page.splitlines() if f"{{ #{name} }}" in line)
        assert row.split("|")[2].strip() == esc(spec.label or "")
    retention = bundled_site.files["registers/retention.md"]
    assert "| Käyntiaika ([`visit.visited_at`](../fields/visit.md#visited_at)) |" in retention
    reports = bundled_site.files["strategy/reports.md"]
    assert "Palvelu ([`visit.service_type`](../fields/visit.md#service_type))" in reports
    b2b = _strategy(B2B)
    english = generate_site(b2b)
    entity = "contact_person"  # its subject entity
    name, spec = next(iter(b2b.system.entities[entity].fields.items()))
    assert spec.label is None
    row = next(
        line
        for line in english.files[f"fields/{entity}.md"].splitlines()
        if f"{{ #{name} }}" in line
    )
    assert row.split("|")[2].strip() == name.replace("_", " ").capitalize()


def test_the_special_category_field_is_flagged_and_encrypted(bundled_site: GeneratedSite) -> None:
    """The health field says it is a special category and stored encrypted."""
    page = bundled_site.files["fields/customer.md"]
    row = next(line for line in page.splitlines() if "{ #accessibility_need }" in line)
    assert "erityinen tietoryhmä" in row and "salattu tallennettaessa" in row


def test_the_access_matrix_shows_masked_and_read_cells_as_granted(
    bundled: Strategy, bundled_site: GeneratedSite
) -> None:
    """marketing sees customer.name masked for reminders and reads the email; mechanics never
    see the email."""
    page = bundled_site.files["registers/access.md"]
    section = page.split("{ #role-marketing }", 1)[1].split("\n## ", 1)[0]
    header = next(line for line in section.splitlines() if line.startswith("| Kenttä"))
    uses = [re.sub(r"\W", "", c.split("](")[0]) for c in header.split("|")[2:-1]]
    column = uses.index("seasonalreminders")
    name_row = next(line for line in section.splitlines() if "customer.name`]" in line)
    email_row = next(line for line in section.splitlines() if "customer.email`]" in line)
    assert name_row.split("|")[2 + column].strip() == "peitetty"
    assert email_row.split("|")[2 + column].strip().startswith("lukee")
    overview = page.split("{ #section-overview }", 1)[1].split("\n## ", 1)[0]
    roles = [r.id for r in bundled.roles]
    email = next(line for line in overview.splitlines() if "customer.email`]" in line)
    assert email.split("|")[2 + roles.index("mechanic")].strip() == "–"


def test_the_ropa_csv_has_one_row_per_use(bundled: Strategy, bundled_site: GeneratedSite) -> None:
    """The CSV download of the record has the compiler's columns and one activity per use."""
    rows = list(csv.DictReader(io.StringIO(bundled_site.files["registers/ropa.csv"])))
    assert [r["activity"] for r in rows] == [u.id for u in bundled.uses]
    assert tuple(rows[0].keys()) == CSV_COLUMNS
    assert "(ropa.csv)" in bundled_site.files["registers/ropa.md"]


def test_the_consent_page_lists_consent_uses_with_notice_versions(
    bundled: Strategy, bundled_site: GeneratedSite
) -> None:
    """Every consent-based use appears with the sources that capture it and their notice."""
    page = bundled_site.files["registers/consent.md"]
    for use in bundled.uses:
        if use.legal_basis == "consent":
            assert f"{{ #{use.id} }}" in page
            for src in bundled.sources:
                if use.id in src.consent_for:
                    assert src.id in page.split(f"{{ #{use.id} }}", 1)[1]
    assert "privacy-notice-2026-01" in page
    assert "{ #service-history }" not in page


def test_the_requests_page_names_the_six_rights_and_deadlines(bundled_site: GeneratedSite) -> None:
    """The request page lists the six rights, the controller's address and the one-month rule."""
    page = bundled_site.files["registers/requests.md"]
    for kind in ("access", "rectification", "erasure", "restriction", "portability", "objection"):
        assert f"`{kind}`" in page
    assert "tietosuoja@rengasvirtanen.fi" in page
    assert "Kuukauden kuluessa" in page and "kahdella" in page
    assert "customer.email" in page  # identity is verified through a known identifier


def test_the_road_links_every_step(bundled: Strategy, bundled_site: GeneratedSite) -> None:
    """The road diagram has a box for every goal, use, question, field, source, report and
    activation, and the Mermaid source names the same nodes."""
    page = bundled_site.files["strategy/road.md"]
    ids = (
        [g.id for g in bundled.goals]
        + [u.id for u in bundled.uses]
        + [q.id for q in bundled.questions]
        + [s.id for s in bundled.sources]
        + [r.id for r in bundled.reports]
        + [a.id for a in bundled.activations]
        + list(bundled.index.fields)
    )
    for node in ids:
        assert f'data-id="{node}"' in page
    assert bundled_site.files["strategy/road.mmd"].startswith("flowchart LR")


def test_the_rules_page_has_a_section_per_rule() -> None:
    """Each rule of the validator has a section anchored by its id, with its hint."""
    page = rules_markdown(RULES)
    for rule in RULES.values():
        assert f"## {rule.id} {{ #{rule.id} }}" in page
        assert esc(rule.hint) in page


def test_text_from_the_strategy_cannot_inject_markup() -> None:
    """Markdown and HTML in YAML text come out literally."""
    text = "<script>alert(1)</script> *bold* [x](y) 7. marraskuuta | pipe"
    out = esc(text)
    assert "<script>" not in out and "\\*bold\\*" in out and "\\|" in out


@pytest.mark.parametrize(
    ("value", "language", "words"),
    [
        ("P2Y", "fi", "2 vuotta"),
        ("P1Y", "en", "1 year"),
        ("P1Y6M", "fi", "1 vuosi 6 kuukautta"),
        ("P30D", "en", "30 days"),
        ("PT12H", "en", "12 hours"),
    ],
)
def test_durations_read_as_words(value: str, language: str, words: str) -> None:
    """ISO 8601 durations are shown in words of the page's language."""
    assert humanise_duration(value, language) == words


# ── mkdocs build --strict ────────────────────────────────────────────────────────────────────


@pytest.mark.slow
def test_mkdocs_strict_build_passes_for_the_bundled_strategy(tmp_path: Path) -> None:
    """`mkdocs build --strict` builds the Finnish site, every link and anchor resolving."""
    out = tmp_path / "site"
    run = _mkdocs_build(BUNDLED, out)
    assert run.returncode == 0, run.stderr
    html = (out / "fields" / "customer" / "index.html").read_text(encoding="utf-8")
    assert 'lang="fi"' in (out / "index.html").read_text(encoding="utf-8")
    assert "accessibility_need" in html and "terveys" in html
    assert (out / "registers" / "ropa.csv").is_file()
    assert (out / "guides" / "api" / "index.html").is_file()
    index = (out / "search" / "search_index.json").read_text(encoding="utf-8")
    assert '"lang":["fi"]' in index.replace(" ", "")
    # the road's links are raw SVG, which mkdocs does not check: check them here
    road = out / "strategy" / "road" / "index.html"
    hrefs = _parse(road).svg_hrefs
    assert len(hrefs) > 40
    base = "http://site/strategy/road/"
    for href in hrefs:
        parts = urlsplit(urljoin(base, href))
        target = out / parts.path.removeprefix("/") / "index.html"
        assert target.is_file(), href
        if parts.fragment:
            assert parts.fragment in _parse(target).ids, href


@pytest.mark.slow
def test_mkdocs_strict_build_passes_for_the_b2b_example(tmp_path: Path) -> None:
    """The English B2B wholesaler, whose subject is not called customer, builds strictly."""
    out = tmp_path / "site"
    run = _mkdocs_build(B2B, out)
    assert run.returncode == 0, run.stderr
    assert 'lang="en"' in (out / "index.html").read_text(encoding="utf-8")
    assert (out / "fields" / "contact_person" / "index.html").is_file()
    page = (out / "registers" / "access" / "index.html").read_text(encoding="utf-8")
    assert "Access matrix" in page


@pytest.mark.slow
def test_validation_rule_links_of_the_cli_resolve_in_the_built_site(tmp_path: Path) -> None:
    """Every rule id the CLI links to is an anchor on the built validation-rules page."""
    out = tmp_path / "site"
    build_site(strategy=MINIMAL, out=out)
    ids = _parse(out / "guides" / "validation-rules" / "index.html").ids
    assert set(RULES) <= ids


@pytest.mark.slow
def test_docs_build_command_writes_the_site(tmp_path: Path) -> None:
    """`tietotie docs build --strategy DIR --out DIR` builds and says where."""
    out = tmp_path / "out"
    result = CliRunner().invoke(
        get_app(), ["docs", "build", "--strategy", str(B2B), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file()
    assert str(out) in result.output


def test_docs_build_refuses_a_strategy_with_errors(tmp_path: Path) -> None:
    """A strategy with errors is not published; the command names the error and exits 1."""
    broken = tmp_path / "strategy"
    shutil.copytree(MINIMAL, broken)
    goals = broken / "1-goal.yaml"
    text = goals.read_text(encoding="utf-8").replace("owner: owner", "owner: nobody", 1)
    goals.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(
        get_app(), ["docs", "build", "--strategy", str(broken), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "unknown-role" in result.output
    assert not (tmp_path / "out" / "index.html").exists()


def test_the_build_function_refuses_a_strategy_with_errors(tmp_path: Path) -> None:
    """Called directly, the build raises DocsBuildError pointing at `tietotie validate`."""
    broken = tmp_path / "strategy"
    shutil.copytree(MINIMAL, broken)
    goals = broken / "1-goal.yaml"
    text = goals.read_text(encoding="utf-8").replace("owner: owner", "owner: nobody", 1)
    goals.write_text(text, encoding="utf-8")
    with pytest.raises(DocsBuildError, match="tietotie validate"):
        build_site(strategy=broken, out=tmp_path / "out")
