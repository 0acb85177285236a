"""Run Stoplight Prism (``prism mock`` or ``prism proxy``) on the official OpenAPI spec, for
conformance tests.

Prism is a Node program from npm. It is installed on demand into ``<project>/.cache/prism``
(outside git), pinned to one version, and started once per test session on a free loopback
port. It serves the spec's paths *without* the server's ``/api/v1`` prefix, so the base URL
is ``http://127.0.0.1:<port>``.

How Prism reports what is wrong (without ``--errors``, which is what we run):

* a request that breaks the spec gets the spec's own 400/422 example with the violations in
  the ``sl-violations`` header; where the spec has no 400/422, a Prism-made
  ``application/problem+json`` 422 that lists them in its body's ``validation`` instead;
* a request without ``Authorization: Bearer <anything>`` gets a 401 (the spec's or Prism's);
  ``violations()`` below gathers all of these into one list;
* a valid request gets the operation's static example; where that example breaks the spec's
  own schema, the response still comes back, with *response* violations in ``sl-violations``.
  (``--errors`` would turn those into 500s, and several of the spec's examples do break it.)

    with prism_server() as base_url:        # pytest.skip()s when node/npm/the spec are missing
        response = httpx.get(f"{base_url}/models", headers={"Authorization": "Bearer x"})
        assert request_violations(response) == []

Proxy mode (``prism_proxy(upstream)``) puts Prism between a client and a real server: each
request is validated, forwarded to ``upstream`` and the server's answer is validated against
the operation's response for its status, both sides reported in ``sl-violations`` (request
violations under ``request``, response violations under ``response``; without ``--errors``
nothing is blocked). The client calls Prism *without* ``/api/v1`` (Prism matches the spec's
paths as written); Prism appends the request path to the upstream URL's path, so the upstream
must *include* ``/api/v1`` (``http://127.0.0.1:<port>/api/v1``, as ``serve_in_thread`` yields).
A path Prism cannot match to an operation is still forwarded, with the warning ``Selected
route not found`` on the request side. Prism reads a forwarded body whole (a stream is
buffered, then sent on) and validates a ``text/event-stream`` body as one string, so a stream
always draws ``Response body must be object`` (:data:`SSE_BODY_VIOLATION`); its events must
be checked separately.

    with serve_in_thread() as upstream, prism_proxy(upstream) as base_url:
        response = httpx.get(f"{base_url}/models")
        assert violation_messages(response) == []
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

SPEC_PATH = Path(__file__).resolve().parents[2] / "shared" / "openapi" / "openrouter.openapi.yaml"

# 5.14.2 is the newest release that runs on Node 18/20; 5.15+ declare node >= 24.14.
PRISM_VERSION = "5.14.2"
MIN_NODE = (18, 20, 1)
CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache" / "prism"
ENTRY_POINT = CACHE_DIR / "node_modules" / "@stoplight" / "prism-cli" / "dist" / "index.js"
# Written only after npm succeeded, so an interrupted install is redone, not half-used.
STAMP = CACHE_DIR / f".installed-{PRISM_VERSION}"

INSTALL_TIMEOUT = 600.0
# Prism takes ~5 s to load this 1.3 MB spec on a 2-core machine; leave room for a busy CI box.
START_TIMEOUT = 90.0
READY_LINE = "Prism is listening on"
# Preloaded into Prism's node: exit once the process that started it (pytest) is gone. Fixture
# teardown covers failures and Ctrl-C; this covers pytest itself being killed (a CI timeout,
# SIGKILL), which would otherwise leave a ~500 MB node process behind holding a port.
ORPHAN_GUARD = (
    "data:text/javascript,const p=process.ppid;"
    "setInterval(()=>{try{process.kill(p,0)}catch{process.exit(0)}},1000).unref()"
)


def _skip(reason: str) -> NoReturn:
    pytest.skip(f"Prism unavailable: {reason}")


def _node_version(node: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
        return tuple(int(part) for part in out.stdout.strip().lstrip("v").split("."))
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """Serialise installs across processes (two pytest runs at once would race npm)."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; a race there only costs a redundant install
        yield
        return
    CACHE_DIR.parent.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR.parent / "prism.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_prism() -> list[str]:
    """Install the pinned Prism if needed; return the argv prefix that runs it.

    Calls ``pytest.skip`` (with the reason) when node or npm is missing, too old, or the
    install fails (e.g. no registry access), so a machine without Node skips, not errors.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _skip("node and npm must be on PATH to install @stoplight/prism-cli")
    version = _node_version(node)
    if version is None or version < MIN_NODE:
        _skip(f"prism-cli {PRISM_VERSION} needs node >= {'.'.join(map(str, MIN_NODE))}")
    with _install_lock():
        if not STAMP.exists():
            command = [npm, "install", "--prefix", str(CACHE_DIR), "--no-audit", "--no-fund"]
            command.append(f"@stoplight/prism-cli@{PRISM_VERSION}")
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            try:
                result = subprocess.run(
                    command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                _skip(f"`npm install` failed: {exc}")
            if result.returncode != 0 or not ENTRY_POINT.exists():
                # npm's "npm error ..." lines, minus the JS stack trace ("npm error    at ...")
                lines = result.stderr.splitlines()
                detail = " | ".join(x for x in lines if re.match(r"npm error (?!\s*at )", x))
                _skip(f"`npm install` failed (exit {result.returncode}): {detail[:800]}")
            STAMP.touch()
    # Run the package's JS entry point with node directly: the PID we hold is then Prism itself
    # (no shell or .cmd wrapper in between), so terminating it leaves nothing behind.
    return [node, "--import", ORPHAN_GUARD, str(ENTRY_POINT)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate Prism (one node process: it forks nothing without --multiprocess); reap it."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def _run_prism(mode_args: list[str], spec: Path) -> Iterator[str]:
    """Start Prism with ``mode_args`` (``["mock", spec]`` or ``["proxy", spec, upstream]``) on
    a free loopback port; yield its base URL; stop it on exit (also on errors)."""
    if not spec.exists():
        _skip(f"the OpenAPI spec is not available at {spec} (../shared is absent)")
    argv = ensure_prism()
    port = _free_port()
    # No CORS headers needed (they would only clutter the responses).
    argv += [*mode_args, "--host", "127.0.0.1", "--port", str(port), "--cors", "false"]
    with tempfile.TemporaryDirectory(prefix="prism-") as tmp:
        log_path = Path(tmp) / "prism.log"
        # Log to a file, not a pipe: nobody drains a pipe during the tests, and a full pipe
        # would block Prism. Same process group as pytest, so a group kill (Ctrl-C, CI) hits
        # Prism too; teardown then finds it gone, which is fine.
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_ready(process, log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            _stop(process)


@contextlib.contextmanager
def prism_server(spec: Path = SPEC_PATH) -> Iterator[str]:
    """Start ``prism mock`` on ``spec``; yield its base URL; stop it on exit (also on errors)."""
    # Static mode (no --dynamic): responses are the spec's examples, so they are deterministic.
    # No --errors: a response example that breaks its own schema is still served (violations
    # go to the header); request violations already yield a 4xx.
    with _run_prism(["mock", str(spec)], spec) as base_url:
        yield base_url


@contextlib.contextmanager
def prism_proxy(upstream: str, spec: Path = SPEC_PATH, *, errors: bool = False) -> Iterator[str]:
    """Start ``prism proxy`` on ``spec`` in front of ``upstream`` (a base URL that includes
    ``/api/v1``); yield Prism's base URL (no ``/api/v1``); stop it on exit.

    Without ``errors`` (the default) every request is forwarded and every answer passed on,
    with the violations of both in ``sl-violations``. With ``errors=True`` (``--errors``),
    a request that breaks the spec is answered 422 (401 for missing auth) without being
    forwarded, and an answer with an error-level violation is replaced by a 500
    problem+json (warnings, such as an undocumented status, still pass).
    """
    if not upstream.startswith(("http://", "https://")):
        raise ValueError(f"upstream must be an http(s) URL, not {upstream!r}")
    mode = ["proxy", str(spec), upstream.rstrip("/")]
    if errors:
        mode.append("--errors")
    with _run_prism(mode, spec) as base_url:
        yield base_url


def _wait_ready(process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace")
        if READY_LINE in text:
            return
        if process.poll() is not None:
            raise RuntimeError(f"prism exited ({process.returncode}) at start:\n{text[-3000:]}")
        time.sleep(0.1)
    raise RuntimeError(f"prism not ready after {START_TIMEOUT} s:\n{text[-3000:]}")


def parse_violations(header: str | None) -> list[dict[str, Any]]:
    """The ``sl-violations`` header: a JSON list of {location, severity, code, message}."""
    if not header:
        return []
    parsed: list[dict[str, Any]] = json.loads(header)
    return parsed


PRISM_ERROR = "https://stoplight.io/prism/errors#"
#: What Prism says of every ``text/event-stream`` answer in proxy mode: it validates the
#: stream as one string against the spec's per-event object schema.
SSE_BODY_VIOLATION = "[Error] response.body: Response body must be object"
#: The request-side warning of proxy mode for a path no operation of the spec matches.
ROUTE_NOT_FOUND = "Selected route not found"


def violations(response: httpx.Response) -> list[dict[str, Any]]:
    """All violations of a response, wherever Prism put them.

    The ``sl-violations`` header, plus what a Prism-made ``application/problem+json`` carries
    when the spec had no response of its own to serve: its ``validation`` list (locations
    there lack the leading "request"), or for a 4xx without one (401 missing auth, 404 no
    such path, 405, 406 ...) the error itself, as a request violation.
    """
    found = parse_violations(response.headers.get("sl-violations"))
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return found
    try:
        problem = response.json()
    except ValueError:
        return found
    if not str(problem.get("type", "")).startswith(PRISM_ERROR):
        return found
    extra = problem.get("validation") or []
    if not extra and 400 <= response.status_code < 500:
        message = f"{problem.get('title')}: {problem.get('detail')}"
        extra = [{"location": [], "severity": "Error", "code": problem["type"], "message": message}]
    for item in extra:
        location = list(item.get("location") or [])
        if location[:1] not in (["request"], ["response"]):
            item = {**item, "location": ["request", *location]}
        if item not in found:
            found.append(item)
    return found


def format_violation(violation: dict[str, Any]) -> str:
    """One readable line: ``[Error] request.body.messages: Request body ... must be array``."""
    where = ".".join(str(part) for part in violation.get("location", []))
    return f"[{violation.get('severity', '?')}] {where}: {violation.get('message', violation)}"


def violation_messages(response: httpx.Response, side: str | None = None) -> list[str]:
    """Readable violations; ``side="request"`` or ``"response"`` keeps only that side's."""
    return [
        format_violation(item)
        for item in violations(response)
        if side is None or (item.get("location") or [None])[0] == side
    ]


def request_violations(response: httpx.Response) -> list[str]:
    """What the conformance test asserts empty: how the *request* broke the spec."""
    return violation_messages(response, "request")
