"""The staff site's requests page sends customers to the privacy center (DESIGN §12)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from schemas import Strategy, load_strategy
from tietotie.cli import get_app
from tietotie.docsite import DocsBuildError, build_site, generate_site
from tietotie.docsite.requests import privacy_center_url

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "strategy"
B2B = REPO / "tests" / "examples" / "b2b-wholesaler"
MINIMAL = REPO / "tests" / "schemas" / "minimal"
PAGE = "registers/requests.md"
CENTER = ("/privacy/request", "/privacy/consents", "/privacy/notice")


def _strategy(path: Path) -> Strategy:
    result = load_strategy(path)
    assert result.strategy is not None
    return result.strategy


@pytest.fixture(scope="module")
def bundled() -> Strategy:
    return _strategy(BUNDLED)


def _where(page: str) -> str:
    """The page's section on where customers make a request."""
    return page.split("{ #where }", 1)[1].split("\n## ", 1)[0]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


def _hrefs(path: Path) -> list[str]:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.hrefs


def test_the_requests_page_links_every_page_of_the_privacy_center(bundled: Strategy) -> None:
    """With the public URL, the request, consent and notice pages are links under it."""
    page = generate_site(bundled, public_url="https://tietosuoja.example.fi/").files[PAGE]
    where = _where(page)
    assert "(https://tietosuoja.example.fi/privacy)" in where
    for path in CENTER:
        assert f"(https://tietosuoja.example.fi{path})" in where, path
    assert "TIETOTIE_PUBLIC_URL" not in where  # nothing left for staff to set


def test_a_public_url_under_a_path_keeps_its_path() -> None:
    """A service behind a path prefix gets the privacy center under that prefix."""
    assert privacy_center_url("https://example.fi/palvelu/") == "https://example.fi/palvelu/privacy"
    page = generate_site(_strategy(B2B), public_url="http://10.0.0.5:8000/tt").files[PAGE]
    assert "(http://10.0.0.5:8000/tt/privacy/consents)" in _where(page)


def test_without_a_public_url_the_page_names_the_path_and_how_to_set_it(
    bundled: Strategy,
) -> None:
    """Unset, the page gives the path /privacy on the service and the setting to link it."""
    where = _where(generate_site(bundled).files[PAGE])
    assert "`/privacy`" in where
    for path in CENTER:
        assert f"`{path}`" in where, path
    assert "`TIETOTIE_PUBLIC_URL`" in where and "tietotie docs build" in where
    assert "](http" not in where  # no link to a guessed host


@pytest.mark.parametrize(
    ("strategy", "words"),
    [
        (BUNDLED, ("Pyyntö", "Suostumukset", "Tietosuojaseloste", "yhtä pätevä")),
        (B2B, ("Request", "Consents", "Privacy notice", "just as valid")),
    ],
)
def test_the_page_names_the_three_pages_and_other_ways_only_as_an_alternative(
    strategy: Path, words: tuple[str, ...]
) -> None:
    """Each language names the request, consent and notice pages; email and visits are an
    alternative the page accepts, no longer the way to make a request."""
    where = _where(generate_site(_strategy(strategy)).files[PAGE])
    for word in words[:3]:
        assert f"**{word}**" in where, word
    assert words[3] in where
    assert "can be sent by email or post" not in where
    assert "Pyynnön voi lähettää sähköpostitse" not in where
    assert where.index("/privacy/request") < where.index(words[3])  # the center comes first


@pytest.mark.parametrize(
    "bad", ["privacy.example.fi", "ftp://example.fi", "https://", "https://x.fi/?a=1"]
)
def test_a_public_url_that_is_no_web_address_is_refused_naming_the_setting(
    bundled: Strategy, bad: str
) -> None:
    """A public URL without http(s)://host is an error naming TIETOTIE_PUBLIC_URL, not a
    broken link."""
    with pytest.raises(DocsBuildError, match="TIETOTIE_PUBLIC_URL must be") as caught:
        generate_site(bundled, public_url=bad)
    assert caught.value.context["field"] == "TIETOTIE_PUBLIC_URL"
    assert repr(bad) in caught.value.message


# ── the built site reads the service's setting ───────────────────────────────────────────────


@pytest.mark.slow
def test_the_built_site_links_the_privacy_center_at_the_public_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`TIETOTIE_PUBLIC_URL` in the environment becomes the built page's links."""
    monkeypatch.setenv("TIETOTIE_PUBLIC_URL", "https://tietosuoja.example.fi")
    out = build_site(strategy=MINIMAL, out=tmp_path / "site")
    hrefs = _hrefs(out / "registers" / "requests" / "index.html")
    for path in CENTER:
        assert f"https://tietosuoja.example.fi{path}" in hrefs, path


@pytest.mark.slow
def test_the_built_site_without_the_setting_says_where_the_center_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unset, the built page names /privacy and links nowhere outside the site."""
    monkeypatch.delenv("TIETOTIE_PUBLIC_URL", raising=False)
    out = build_site(strategy=MINIMAL, out=tmp_path / "site")
    page = out / "registers" / "requests" / "index.html"
    # a link to the privacy center itself (the nav's own guides/privacy-staff page is not one)
    assert not [h for h in _hrefs(page) if re.search(r"(^|//[^/]+)/privacy(/|$)", h)]
    text = re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))
    assert "/privacy/request" in text and "TIETOTIE_PUBLIC_URL" in text


def test_the_build_refuses_a_public_url_that_is_no_web_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad setting stops the build with the setting's name, before a page is written."""
    monkeypatch.setenv("TIETOTIE_PUBLIC_URL", "tietosuoja.example.fi")
    with pytest.raises(DocsBuildError, match="TIETOTIE_PUBLIC_URL"):
        build_site(strategy=MINIMAL, out=tmp_path / "site")
    assert not (tmp_path / "site" / "index.html").exists()


def test_docs_build_names_a_bad_public_url_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tietotie docs build` says which setting is wrong and what it should look like."""
    monkeypatch.setenv("TIETOTIE_PUBLIC_URL", "tietosuoja.example.fi")
    result = CliRunner().invoke(
        get_app(), ["docs", "build", "--strategy", str(MINIMAL), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1
    assert "TIETOTIE_PUBLIC_URL must be" in result.output and "https://" in result.output
