"""The privacy center's pages over real HTTP with many subjects (default 1M).

Reuses (or seeds, with :func:`records.seed.seed` as ``bench_dsar.py`` does) the database in
build/bench/dsar-N/, or with ``--database-url postgresql://…`` the schema ``bench_dsar_N`` that
``bench_dsar.py`` seeds too (one seeding serves both), prepares in process what the stateful
pages need (customers' addresses, requests with known codes, unsubscribe links), then starts
``tietotie serve`` in another process on 127.0.0.1 and times every page of DESIGN §12 from a
client in this one: a warm-up, then the samples, each in turn in fi, en and sv, with the server
process's CPU time per request beside the wall times (steadier when other work shares the
cores). For each page it also counts what a browser with an empty cache transfers: the answer
(headers and body as sent, compressed only if the server compresses) plus every stylesheet,
script, image and icon its HTML links.
Targets (issue 15): every page p99 ≤ 50 ms, the heaviest page ≤ 60 KB (60,000 bytes)
transferred; the export keeps DESIGN §10's ≤ 100 ms over HTTP. Downloads (the PDF notice, the
export) are timed but have no size target.

One more page is one more :class:`Page` in :data:`PAGES`.

    .venv/bin/python bench/bench_pages.py [--subjects 1000000] [--samples 300] [--warmup 30]
                                          [--database-url URL]
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import random
import re
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from dsar.web.i18n import LANGUAGES
from records.seed import seed
from tietotie.app import open_services
from tietotie.settings import RateLimitSettings, Settings
from tietotie.wiring import Services

sys.path.insert(0, str(Path(__file__).resolve().parent))
from databases import add_database_url, describe, keyed_database, peak_rss_mib

ROOT = Path(__file__).resolve().parents[1]
PAGE_MS = 50.0
EXPORT_MS = 100.0
PAGE_BYTES = 60_000

# The benchmark opens hundreds of requests from one address and guesses codes on purpose; the
# edge limits (DESIGN §11) would rightly refuse that, and they are not what is measured here.
RAISED = "1000000/hour"
LIMITS = (
    "open_per_identifier",
    "open_per_client",
    "wrong_codes_per_identifier",
    "messages_per_identifier",
)


# ── what each page needs ──────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Call:
    """One HTTP request of a page's run and the status it must answer with."""

    method: str
    path: str
    expect: int = 200
    form: dict[str, str] | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    key: str = ""  # which fixture it used, for `Page.keep`


@dataclass
class Fixtures:
    """What the pages need, made in process before the server starts or by earlier pages."""

    emails: list[str]  # customers' addresses, for opening requests over HTTP
    coded: list[tuple[str, str]]  # (request id, its code): access requests of customers
    tokens: list[str]  # signed unsubscribe tokens of customers
    csrf: tuple[str, str] = ("", "")  # (cookie, form field) of asgi-csrf
    opened: list[str] = field(default_factory=list)  # request ids the open page redirected to
    verified: list[tuple[str, str]] = field(default_factory=list)  # (id, tt_request cookie)
    signin_emails: list[str] = field(default_factory=list)  # for consent sign-ins over HTTP
    signins: list[tuple[str, str]] = field(default_factory=list)  # (sign-in id, its code)
    signed_in: list[str] = field(default_factory=list)  # tt_consents cookies

    def form(self, **values: str) -> dict[str, str]:
        return {"csrftoken": self.csrf[1], **values}

    def cookie(self, **more: str) -> dict[str, str]:
        return {"csrftoken": self.csrf[0], **more}


@dataclass(frozen=True)
class Page:
    """One page (or download) to bench: ``calls(fixtures, n)`` gives its n requests."""

    name: str
    calls: Callable[[Fixtures, int], Iterator[Call]]
    download: bool = False
    target_ms: float = PAGE_MS
    keep: Callable[[Fixtures, Call, httpx.Response], None] | None = None


def _same(path: str, *, expect: int = 200) -> Callable[[Fixtures, int], Iterator[Call]]:
    def calls(_: Fixtures, n: int) -> Iterator[Call]:
        for _i in range(n):
            yield Call("GET", path, expect=expect)

    return calls


def _open_calls(fx: Fixtures, n: int) -> Iterator[Call]:
    for email in _take(fx.emails, n, "customer addresses"):
        yield Call(
            "POST",
            "/privacy/request",
            expect=303,
            form=fx.form(type="access", email=email),
            cookies=fx.cookie(),
        )


def _keep_opened(fx: Fixtures, _: Call, response: httpx.Response) -> None:
    fx.opened.append(_request_id(response.headers["location"]))


def _code_form_calls(fx: Fixtures, n: int) -> Iterator[Call]:
    for rid in _take(fx.opened, n, "requests opened over HTTP"):
        yield Call("GET", f"/privacy/request/{rid}")


def _wrong_code_calls(fx: Fixtures, n: int) -> Iterator[Call]:
    for rid, code in _take(fx.coded, n, "requests with known codes"):
        wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
        yield Call(
            "POST",
            f"/privacy/request/{rid}",
            expect=422,
            form=fx.form(code=wrong),
            cookies=fx.cookie(),
        )


def _right_code_calls(fx: Fixtures, n: int) -> Iterator[Call]:
    for rid, code in _take(fx.coded, n, "requests with known codes"):
        yield Call(
            "POST",
            f"/privacy/request/{rid}",
            expect=303,
            form=fx.form(code=code),
            cookies=fx.cookie(),
            key=rid,
        )


def _keep_verified(fx: Fixtures, call: Call, response: httpx.Response) -> None:
    fx.verified.append((call.key, response.cookies["tt_request"]))


def _status_calls(fx: Fixtures, n: int) -> Iterator[Call]:
    for rid, cookie in _take(fx.verified, n, "verified requests"):
        yield Call("GET", f"/privacy/request/{rid}", cookies={"tt_request": cookie})


def _export_calls(fmt: str) -> Callable[[Fixtures, int], Iterator[Call]]:
    def calls(fx: Fixtures, n: int) -> Iterator[Call]:
        for rid, cookie in _take(fx.verified, n, "verified requests"):
            yield Call(
                "GET", f"/privacy/request/{rid}/export?format={fmt}", cookies={"tt_request": cookie}
            )

    return calls


def _unsubscribe_calls(fx: Fixtures, n: int) -> Iterator[Call]:
    for token in _take(fx.tokens, n, "unsubscribe links"):
        yield Call("GET", f"/privacy/unsubscribe/{token}")


def _sign_in_calls(fx: Fixtures, n: int) -> Iterator[Call]:
    for email in _take(fx.signin_emails, n, "addresses for consent sign-ins"):
        yield Call(
            "POST", "/privacy/consents", expect=303, form=fx.form(email=email), cookies=fx.cookie()
        )


def _sign_in_code_calls(fx: Fixtures, n: int) -> Iterator[Call]:
    for sid, code in _take(fx.signins, n, "sign-ins with known codes"):
        yield Call(
            "POST",
            f"/privacy/consents/sign-in/{sid}",
            expect=303,
            form=fx.form(code=code),
            cookies=fx.cookie(),
        )


def _keep_signed_in(fx: Fixtures, _: Call, response: httpx.Response) -> None:
    fx.signed_in.append(response.cookies["tt_consents"])


def _consents_calls(fx: Fixtures, n: int) -> Iterator[Call]:
    for cookie in _take(fx.signed_in, n, "signed-in browsers"):
        yield Call("GET", "/privacy/consents", cookies={"tt_consents": cookie})


def _give_calls(fx: Fixtures, n: int) -> Iterator[Call]:
    for cookie in _take(fx.signed_in, n, "signed-in browsers"):
        yield Call(
            "POST",
            "/privacy/consents/choice",
            expect=303,
            form=fx.form(use="seasonal-reminders", state="given"),
            cookies=fx.cookie(tt_consents=cookie),
        )


PAGES: tuple[Page, ...] = (
    Page("GET /privacy", _same("/privacy")),
    Page("GET /privacy/notice", _same("/privacy/notice")),
    Page("GET /privacy/notice.pdf", _same("/privacy/notice.pdf"), download=True),
    Page("GET /privacy/request", _same("/privacy/request")),
    Page("POST /privacy/request (opens; 303)", _open_calls, keep=_keep_opened),
    Page("GET /privacy/request/{id} (code form)", _code_form_calls),
    Page("POST /privacy/request/{id} (wrong code; 422)", _wrong_code_calls),
    Page("POST /privacy/request/{id} (right code; 303)", _right_code_calls, keep=_keep_verified),
    Page("GET /privacy/request/{id} (status, verified)", _status_calls),
    Page("GET /privacy/unsubscribe/{token}", _unsubscribe_calls),
    Page("GET /privacy/consents (sign-in form)", _same("/privacy/consents")),
    Page("POST /privacy/consents (sign in; 303)", _sign_in_calls),
    Page(
        "POST /privacy/consents/sign-in/{id} (code; 303)",
        _sign_in_code_calls,
        keep=_keep_signed_in,
    ),
    Page("GET /privacy/consents (signed in)", _consents_calls),
    Page("POST /privacy/consents/choice (give; 303)", _give_calls),
    Page(
        "GET …/{id}/export?format=json (first, builds)",
        _export_calls("json"),
        download=True,
        target_ms=EXPORT_MS,
    ),
    Page(
        "GET …/{id}/export?format=zip (kept)",
        _export_calls("zip"),
        download=True,
        target_ms=EXPORT_MS,
    ),
)
"""Every page benched, in the order they run (later pages use what earlier ones kept)."""


def _take(items: list[Any], n: int, what: str) -> list[Any]:
    if len(items) < n:
        raise SystemExit(f"bench_pages: {n} {what} needed, {len(items)} prepared")
    return items[:n]


def _request_id(location: str) -> str:
    found = re.match(r"/privacy/request/([0-9a-f]+)", location)
    if found is None:
        raise SystemExit(f"bench_pages: unexpected redirect to {location!r}")
    return found.group(1)


# ── pure helpers ──────────────────────────────────────────────────────────────────────────────


def percentile(samples: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``samples`` (seconds), in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def head_bytes(response: httpx.Response) -> int:
    """The size of the status line and headers as HTTP/1.1 sends them."""
    status = len(f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n")
    return status + sum(len(k) + len(v) + 4 for k, v in response.headers.raw) + 2


def decoded(body: bytes, encoding: str) -> bytes:
    """``body`` as sent with ``Content-Encoding: encoding``, decompressed for reading."""
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding in {"", "identity"}:
        return body
    raise SystemExit(f"bench_pages: cannot read a {encoding!r} body; add it to decoded()")


class _Linked(HTMLParser):
    """Collects what a browser would fetch for a page: stylesheets, scripts, images, icons."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str | None]] = []  # (kind, URL or None for inline)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        rel = set((a.get("rel") or "").lower().split())
        if tag == "script":
            self.found.append(("script", a.get("src")))
        elif tag == "link" and rel & {"stylesheet", "icon", "preload", "modulepreload"}:
            self.found.append(("script" if "modulepreload" in rel else "css", a.get("href")))
        elif tag in {"img", "source"} and (a.get("src") or a.get("srcset")):
            self.found.append(("image", a.get("src")))


def linked(html: str) -> list[tuple[str, str | None]]:
    """``(kind, url)`` of every resource ``html`` makes a browser load; url None when inline."""
    parser = _Linked()
    parser.feed(html)
    return parser.found


# ── the run ───────────────────────────────────────────────────────────────────────────────────


@dataclass
class Result:
    page: Page
    samples: list[float] = field(default_factory=list)
    head: int = 0  # of the largest answer
    body: int = 0  # as sent
    encoding: str = ""
    html: str = ""
    css: int = 0
    script: int = 0
    other: int = 0
    load: float = 0.0  # the 1-minute load average when the page's run ended
    cpu_ms: float | None = None  # the server's CPU time per sampled request, on average
    gzipped: int = 0  # the same transfer had the server gzipped the HTML and what it links

    @property
    def total(self) -> int:
        return self.head + self.body + self.css + self.script + self.other


def _settings(folder: Path, database_url: str) -> Settings:
    return Settings(
        strategy=ROOT / "strategy",
        var_dir=folder,
        environment="development",
        database_url=database_url,
        key_file=folder / "master.key",
        rate_limits=RateLimitSettings(**dict.fromkeys(LIMITS, RAISED)),
    )


def _server_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIETOTIE_")}
    env.update(
        TIETOTIE_ENVIRONMENT=str(settings.environment),
        TIETOTIE_VAR_DIR=str(settings.var_dir),
        TIETOTIE_DATABASE_URL=settings.database_url,
        TIETOTIE_KEY_FILE=str(settings.key_file),
    )
    env.update({f"TIETOTIE_RATE_LIMITS__{name.upper()}": RAISED for name in LIMITS})
    return env


def _seeded(services: Services, subjects: int, console: Console) -> None:
    root = services.store.tables.subject_table
    with services.sessions() as session:
        held = session.execute(select(func.count()).select_from(root)).scalar_one()
    if held < subjects:
        console.print(f"seeding {subjects - held:,} customers (about 11 min for 1M on SQLite)…")
        start = time.perf_counter()
        result = seed(services.sessions, services.store, customers=subjects - held)
        seconds = time.perf_counter() - start
        console.print(
            f"seeded {result.customers:,} customers ({result.total_rows:,} rows) in "
            f"{seconds:,.0f} s: {result.total_rows / seconds:,.0f} rows/s; "
            f"peak RSS {peak_rss_mib():,.0f} MiB"
        )


def _prepare(services: Services, n: int) -> Fixtures:
    """Random customers' addresses, access requests with their codes, unsubscribe links."""
    root = services.store.tables.subject_table
    with services.sessions() as session:
        rows = session.execute(
            select(root.c.subject_id, root.c.email)
            .where(root.c.email.is_not(None))
            .order_by(func.random())
            .limit(5 * n)
        )
        picked = [(str(sid), str(email)) for sid, email in rows]
    random.Random(7).shuffle(picked)
    if len(picked) < 5 * n:
        raise SystemExit(f"bench_pages: {5 * n} customers with an email needed, {len(picked)} held")
    activation = next(iter(services.strategy.index.activations))
    tokens = [services.links.token(activation, sid) for sid, _ in picked[2 * n : 3 * n]]
    coded: list[tuple[str, str]] = []
    with services.sessions() as session:
        for _, email in picked[n : 2 * n]:
            opened = services.requests.open(
                session, type="access", identity={"email": email}, defer=True
            )
            assert opened.delivery is not None
            coded.append((opened.request.id, opened.delivery.code))
        session.commit()
    signins: list[tuple[str, str]] = []
    with services.sessions() as session:
        for _, email in picked[4 * n : 5 * n]:
            delivery = services.signins.open(session, identity={"email": email})
            services.signins.deliver_code(session, delivery)
            signins.append((delivery.signin_id, delivery.code))
        session.commit()
    return Fixtures(
        emails=[e for _, e in picked[:n]],
        coded=coded,
        tokens=tokens,
        signin_emails=[e for _, e in picked[3 * n : 4 * n]],
        signins=signins,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``tietotie serve`` in its own process, as a customer's browser would reach it."""
    command = [str(Path(sys.executable).with_name("tietotie")), "serve"]
    command += ["--strategy", str(settings.strategy), "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, env=_server_env(settings), stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"bench_pages: the server stopped; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"bench_pages: the server did not answer within 180 s; see {log}")


def _with_lang(path: str, i: int) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={LANGUAGES[i % len(LANGUAGES)]}"


def _send(client: httpx.Client, call: Call, i: int) -> tuple[float, httpx.Response, bytes]:
    cookies = "; ".join(f"{k}={v}" for k, v in call.cookies.items())
    headers = {"Cookie": cookies} if cookies else {}
    request = client.build_request(
        call.method, _with_lang(call.path, i), data=call.form, headers=headers
    )
    start = time.perf_counter()
    response = client.send(request, stream=True)
    body = b"".join(response.iter_raw())  # the bytes as sent, not decompressed
    elapsed = time.perf_counter() - start
    response.close()
    client.cookies.clear()  # each call carries exactly the cookies its Call names
    if response.status_code != call.expect:
        text = decoded(body, response.headers.get("content-encoding", ""))[:300]
        raise SystemExit(
            f"bench_pages: {call.method} {call.path} answered {response.status_code}, "
            f"expected {call.expect}: {text!r}"
        )
    return elapsed, response, body


def _csrf(client: httpx.Client) -> tuple[str, str]:
    response = client.get("/privacy/request")
    cookie = response.cookies["csrftoken"]
    found = re.search(r'name="csrftoken" value="([^"]+)"', response.text)
    client.cookies.clear()
    if found is None:
        raise SystemExit("bench_pages: the request form carries no csrftoken field")
    return cookie, found.group(1)


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time of process ``pid`` so far (Linux ``/proc``; else None)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()  # the name in parentheses may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(
    client: httpx.Client, page: Page, fx: Fixtures, warmup: int, samples: int, server: int
) -> Result:
    result = Result(page)
    cpu_start = cpu_seconds(server)
    for i, call in enumerate(page.calls(fx, warmup + samples)):
        if i == warmup:
            cpu_start = cpu_seconds(server)
        elapsed, response, body = _send(client, call, i)
        if page.keep is not None:
            page.keep(fx, call, response)
        if i < warmup:
            continue
        result.samples.append(elapsed)
        if len(body) + head_bytes(response) > result.body + result.head:
            result.head, result.body = head_bytes(response), len(body)
            result.encoding = response.headers.get("content-encoding", "")
            if response.headers.get("content-type", "").startswith("text/html"):
                result.html = decoded(body, result.encoding).decode()
    cpu_end = cpu_seconds(server)
    if cpu_start is not None and cpu_end is not None and result.samples:
        result.cpu_ms = (cpu_end - cpu_start) * 1000 / len(result.samples)
    return result


def _linked_bytes(client: httpx.Client, result: Result) -> None:
    """Add what the page's HTML links (each fetched once, as an empty cache would)."""
    result.gzipped = result.head + len(gzip.compress(result.html.encode()))
    for kind, url in linked(result.html):
        size = 0
        if url is not None:
            if re.match(r"[a-z]+:|//", url):
                raise SystemExit(f"bench_pages: {result.page.name} loads {url} from another host")
            _, response, body = _send(client, Call("GET", url), 0)
            size = head_bytes(response) + len(body)
            plain = decoded(body, response.headers.get("content-encoding", ""))
            result.gzipped += head_bytes(response) + len(gzip.compress(plain))
        if kind == "css":
            result.css += size
        elif kind == "script":
            result.script += size or 1  # an inline script still counts as one
        else:
            result.other += size


def _met(result: Result) -> str:
    problems = []
    if percentile(result.samples, 0.99) > result.page.target_ms:
        problems.append("p99")
    if not result.page.download and result.total > PAGE_BYTES:
        problems.append("size")
    return "yes" if not problems else f"[bold red]no[/] ({', '.join(problems)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    add_database_url(parser, None, "build/bench/dsar-N/tietotie.db, SQLite, as bench_dsar.py")
    args = parser.parse_args()
    console = Console()
    if not console.is_terminal:  # a pipe or a file: keep each row on one line
        console = Console(width=170)
    db, folder = keyed_database(
        args.database_url,
        name="dsar",  # the data set bench_dsar.py seeds: one seeding serves both
        size=args.subjects,
        folder=ROOT / "build" / "bench" / f"dsar-{args.subjects}",
    )
    settings = _settings(folder, db.url)
    services = open_services(settings)
    _seeded(services, args.subjects, console)
    where = describe(services.engine)
    fx = _prepare(services, args.warmup + args.samples)
    services.engine.dispose()

    port = _free_port()
    load_before = os.getloadavg()[0]
    server = _start_server(settings, port, folder / "bench_pages-server.log")
    results: list[Result] = []
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Accept-Encoding": "gzip, deflate, br, zstd"},  # what Chromium offers
        ) as client:
            fx.csrf = _csrf(client)
            csp = client.get("/privacy").headers.get("content-security-policy", "")
            for page in PAGES:
                result = _run(client, page, fx, args.warmup, args.samples, server.pid)
                if not page.download:
                    _linked_bytes(client, result)
                result.load = os.getloadavg()[0]
                results.append(result)
    finally:
        server.terminate()
        server.wait(timeout=30)

    encodings = sorted({r.encoding or "none" for r in results})
    table = Table(
        title=f"privacy center over HTTP, {args.subjects:,} subjects ({where}), "
        f"{args.samples} samples after {args.warmup} warm-up, fi/en/sv in turn; "
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load {load_before:.2f} → {os.getloadavg()[0]:.2f}"
    )
    columns = ("page", "p50 ms", "p99 ms", "server CPU ms", "answer B", "CSS B", "script B")
    for column in (*columns, "bytes"):
        table.add_column(column, justify="left" if column == "page" else "right")
    table.add_column("target")
    table.add_column("met?")
    table.add_column("load", justify="right")
    for r in results:
        target = f"p99 ≤ {r.page.target_ms:.0f} ms"
        target += ", download" if r.page.download else f", ≤ {PAGE_BYTES // 1000} KB"
        table.add_row(
            r.page.name,
            f"{percentile(r.samples, 0.5):.1f}",
            f"{percentile(r.samples, 0.99):.1f}",
            "" if r.cpu_ms is None else f"{r.cpu_ms:.1f}",
            f"{r.head + r.body:,}",
            "" if r.page.download else f"{r.css:,}",
            "" if r.page.download else f"{r.script:,}",
            f"{r.total:,}",
            target,
            _met(r),
            f"{r.load:.1f}",
        )
    console.print(table)
    heaviest = max((r for r in results if not r.page.download), key=lambda r: r.total)
    console.print(
        f"bytes: headers and bodies as sent (Content-Encoding seen: {', '.join(encodings)}; "
        f"the client offered gzip, deflate, br, zstd), the answer plus what its HTML links. "
        f"Heaviest page: {heaviest.page.name}, {heaviest.total:,} B ({heaviest.gzipped:,} B "
        f"were it gzipped). Scripts linked or inline: "
        f"{sum(r.script for r in results)}; CSP: {csp or 'none'}"
    )


if __name__ == "__main__":
    main()
