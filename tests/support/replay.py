"""Replay recorded IdP provisioning sequences (``idp-fixtures/``) against a live SCIM server.

A fixture is one JSON file: which IdP sends it, the public documents it is modelled on, the
headers the IdP puts on every request, and ordered steps. Each step sends what the IdP sends and
checks only what the IdP relies on in the answer. ``idp-fixtures/README.md`` is the format's
reference; :func:`load_fixture` enforces it, so a typo in a fixture is an error, not a silent pass.

Every step runs even after an earlier one failed (a step that needs a variable an earlier step
failed to capture reports that instead), so one replay lists every way the server disappoints
the IdP, each with the request, what was expected and what came back.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

__all__ = [
    "FixtureError",
    "Fixture",
    "ReplayFailure",
    "Replayer",
    "StepFailure",
    "discover_fixtures",
    "load_fixture",
    "match",
    "resolve",
]

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

_MATCHERS = frozenset(
    {
        "$type",
        "$len",
        "$contains",
        "$not_contains",
        "$each",
        "$ieq",
        "$absent",
        "$empty",
        "$in",
        "$ne",
        "$gte",
        "$lte",
        "$startswith",
    }
)
_TYPES: Mapping[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}
_STEP_KINDS = ("request", "seed", "paginate")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BODY_EXCERPT = 1200


class FixtureError(ValueError):
    """A fixture file does not follow the format in idp-fixtures/README.md."""


class _Missing:
    """An attribute the response does not carry (distinct from JSON null)."""

    def __repr__(self) -> str:
        return "<absent>"


MISSING: Any = _Missing()


# --------------------------------------------------------------------------- fixtures


@dataclass(frozen=True, slots=True)
class Fixture:
    path: Path
    idp: str
    title: str
    sources: tuple[Mapping[str, Any], ...]
    headers: Mapping[str, str]
    every_response: Mapping[str, Any]
    vars: Mapping[str, Any]
    steps: tuple[Mapping[str, Any], ...]

    @property
    def name(self) -> str:
        """``okta/01-connection-test`` — stable across machines, used as the test id."""
        return f"{self.path.parent.name}/{self.path.stem}"

    def step_names(self) -> list[str]:
        return [str(step["name"]) for step in self.steps]


def discover_fixtures(root: Path) -> list[Path]:
    """Every fixture file under ``root``, one directory per IdP, in a stable order."""
    return sorted(p for p in root.glob("*/*.json") if p.is_file())


def load_fixture(path: Path) -> Fixture:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FixtureError(f"{path}: not valid JSON: {exc}") from exc
    where = str(path)
    _require_keys(
        data,
        {"idp", "title", "sources", "headers", "steps"},
        {"description", "header_notes", "vars", "every_response"},
        where,
    )
    if data["idp"] != path.parent.name:
        raise FixtureError(f"{where}: idp {data['idp']!r} does not match its directory {path.parent.name!r}")
    if not data["sources"]:
        raise FixtureError(f"{where}: names no source document")
    for i, source in enumerate(data["sources"]):
        _require_keys(source, {"title", "url"}, {"used_for"}, f"{where} sources[{i}]")
    if "User-Agent" not in data["headers"]:
        raise FixtureError(f"{where}: headers must say which User-Agent the IdP sends")
    every = data.get("every_response", {})
    _require_keys(every, set(), {"headers"}, f"{where} every_response")
    _check_expectations(every.get("headers", {}), f"{where} every_response.headers")
    seen: set[str] = set()
    for i, step in enumerate(data["steps"]):
        step_where = f"{where} step {i + 1}"
        _check_step(step, step_where)
        if step["name"] in seen:
            raise FixtureError(f"{step_where}: duplicate step name {step['name']!r}")
        seen.add(step["name"])
    return Fixture(
        path=path,
        idp=data["idp"],
        title=data["title"],
        sources=tuple(data["sources"]),
        headers=dict(data["headers"]),
        every_response=every,
        vars=dict(data.get("vars", {})),
        steps=tuple(data["steps"]),
    )


def _require_keys(obj: Any, required: set[str], optional: set[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise FixtureError(f"{where}: expected an object, got {type(obj).__name__}")
    if missing := required - obj.keys():
        raise FixtureError(f"{where}: missing {sorted(missing)}")
    if unknown := obj.keys() - required - optional:
        raise FixtureError(f"{where}: unknown keys {sorted(unknown)}")


def _check_step(step: Any, where: str) -> None:
    if not isinstance(step, dict):
        raise FixtureError(f"{where}: a step is an object")
    kinds = [k for k in _STEP_KINDS if k in step]
    if len(kinds) != 1:
        raise FixtureError(f"{where}: a step has exactly one of {list(_STEP_KINDS)}, found {kinds}")
    kind = kinds[0]
    _require_keys(step, {"name", kind}, {"note", "expect", "capture"}, where)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", step["name"]):
        raise FixtureError(f"{where}: step name {step['name']!r} must be lower-case-with-dashes")
    expect = step.get("expect", {})
    if kind == "request":
        _check_request(step["request"], where)
        _require_keys(expect, {"status"}, {"json", "headers"}, f"{where} expect")
        _check_expectations(expect.get("json", {}), f"{where} expect.json")
        _check_expectations(expect.get("headers", {}), f"{where} expect.headers")
        _check_expectation(expect["status"], f"{where} expect.status")
    elif kind == "seed":
        _require_keys(step["seed"], {"count", "request"}, set(), f"{where} seed")
        _check_request(step["seed"]["request"], f"{where} seed")
        _require_keys(expect, {"status"}, set(), f"{where} expect")
        if "capture" in step:
            raise FixtureError(f"{where}: a seed step captures nothing")
    else:
        _require_keys(step["paginate"], {"path", "count"}, {"query"}, f"{where} paginate")
        _require_keys(expect, {"totalResults", "pages"}, set(), f"{where} expect")
        if "capture" in step:
            raise FixtureError(f"{where}: a paginate step captures nothing")
    for var, path in step.get("capture", {}).items():
        if not isinstance(path, str) or not _VAR.fullmatch("${" + var + "}"):
            raise FixtureError(f"{where}: capture {var!r}: {path!r} is not a variable name and path")


def _check_request(request: Any, where: str) -> None:
    _require_keys(request, {"method", "path"}, {"query", "body", "headers"}, f"{where} request")
    if request["method"] not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
        raise FixtureError(f"{where}: method {request['method']!r}")
    if not request["path"].startswith("/") or "?" in request["path"]:
        raise FixtureError(f"{where}: path starts with / and carries no query (use 'query')")


def _check_expectations(expectations: Any, where: str) -> None:
    if not isinstance(expectations, dict):
        raise FixtureError(f"{where}: expected an object of path: expectation")
    for path, expected in expectations.items():
        _check_expectation(expected, f"{where}[{path!r}]")


def _check_expectation(expected: Any, where: str) -> None:
    if isinstance(expected, dict):
        ops = {k for k in expected if k.startswith("$") and k != "$ref"}
        if unknown := ops - _MATCHERS:
            raise FixtureError(f"{where}: unknown matcher {sorted(unknown)}; known: {sorted(_MATCHERS)}")
        if ops and ops != expected.keys():
            raise FixtureError(f"{where}: a matcher object holds only matchers, got {sorted(expected)}")
        if "$type" in expected and expected["$type"] not in _TYPES:
            raise FixtureError(f"{where}: unknown $type {expected['$type']!r}")
        for value in expected.values():
            _check_expectation(value, where)
    elif isinstance(expected, list):
        for value in expected:
            _check_expectation(value, where)


# --------------------------------------------------------------------------- paths and matching


def resolve(document: Any, path: str) -> Any:
    """Follow a SCIM-style path into a JSON document; :data:`MISSING` where nothing is there.

    ``name.givenName``, ``Resources[0].id``, ``Resources[*].id`` (a list), ``emails[type eq "work"].value``
    (the first element whose ``type`` equals ``work``), and extension attributes by their URN
    (``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value``). ``$`` is the
    whole document.
    """
    if path in ("", "$"):
        return document
    current: Any = document
    rest = path
    if path.startswith("urn:"):
        urn, _, rest = path.rpartition(":")
        current = current.get(urn, MISSING) if isinstance(current, dict) else MISSING
    for segment in _segments(rest):
        current = _step_into(current, segment)
    return current


def _segments(path: str) -> Iterator[str]:
    depth, start = 0, 0
    for i, char in enumerate(path):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "." and depth == 0:
            yield path[start:i]
            start = i + 1
    yield path[start:]


_SEGMENT = re.compile(r"^(?P<name>[^\[\]]+)(?:\[(?P<selector>.+)\])?$")
_SELECT_EQ = re.compile(r'^\s*(?P<attr>[A-Za-z0-9_$]+)\s+eq\s+(?P<value>".*"|true|false|-?\d+)\s*$')


def _step_into(current: Any, segment: str) -> Any:
    m = _SEGMENT.match(segment)
    if m is None:
        raise FixtureError(f"bad path segment {segment!r}")
    name, selector = m["name"], m["selector"]
    if isinstance(current, list) and current and isinstance(current[0], list):
        return [_step_into(item, segment) for item in current]  # fan-out after [*]
    if isinstance(current, list) and selector is None and name != "*":
        # ``Resources[*].id``: map the attribute over the selected elements.
        return [item.get(name, MISSING) if isinstance(item, dict) else MISSING for item in current]
    value = current.get(name, MISSING) if isinstance(current, dict) else MISSING
    if selector is None or value is MISSING:
        return value
    if not isinstance(value, list):
        return MISSING
    if selector == "*":
        return value
    if selector.lstrip("-").isdigit():
        index = int(selector)
        return value[index] if -len(value) <= index < len(value) else MISSING
    sel = _SELECT_EQ.match(selector)
    if sel is None:
        raise FixtureError(f'bad selector [{selector}] (use an index, * or `attr eq "value"`)')
    wanted = json.loads(sel["value"])
    for item in value:
        if isinstance(item, dict) and item.get(sel["attr"]) == wanted:
            return item
    return MISSING


def match(expected: Any, actual: Any, where: str = "$") -> list[str]:
    """Why ``actual`` does not satisfy ``expected`` (empty when it does).

    Literal objects match as subsets (only the listed keys are checked, recursively); literal
    arrays match element by element; matcher objects (``{"$type": "string"}`` …) are described in
    idp-fixtures/README.md.
    """
    if isinstance(expected, dict) and expected and all(k.startswith("$") and k != "$ref" for k in expected):
        problems: list[str] = []
        for op, arg in expected.items():
            problems += _apply(op, arg, actual, where)
        return problems
    if actual is MISSING:
        return [f"{where}: expected {_show(expected)}, but the attribute is absent"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {_show(actual)}"]
        problems = []
        for key, value in expected.items():
            problems += match(value, actual.get(key, MISSING), f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {_show(expected)}, got {_show(actual)}"]
        problems = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            problems += match(e, a, f"{where}[{i}]")
        return problems
    same_type = type(expected) is type(actual) or _both_numbers(expected, actual)
    if not same_type or expected != actual:
        return [f"{where}: expected {_show(expected)}, got {_show(actual)}"]
    return []


def _both_numbers(a: Any, b: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))


def _apply(op: str, arg: Any, actual: Any, where: str) -> list[str]:
    fail = [f"{where}: expected {op} {_show(arg)}, got {_show(actual)}"]
    if op == "$absent":
        present = actual is not MISSING and actual is not None
        return fail if present == bool(arg) else []
    if op == "$empty":
        empty = actual is MISSING or actual in (None, [], {}, "")
        return [] if empty == bool(arg) else fail
    if actual is MISSING:
        return [f"{where}: expected {op} {_show(arg)}, but the attribute is absent"]
    if op == "$type":
        return [] if _TYPES[arg](actual) else fail
    if op == "$len":
        if not isinstance(actual, list | str | dict):
            return fail
        return match(arg, len(actual), f"len({where})")
    if op in ("$contains", "$not_contains"):
        if isinstance(actual, str) and isinstance(arg, str):
            found = arg in actual
        elif isinstance(actual, list):
            found = any(not match(arg, item) for item in actual)
        else:
            return fail
        return [] if found == (op == "$contains") else fail
    if op == "$each":
        if not isinstance(actual, list) or not actual:
            return [f"{where}: expected a non-empty list for $each, got {_show(actual)}"]
        problems: list[str] = []
        for i, item in enumerate(actual):
            problems += match(arg, item, f"{where}[{i}]")
        return problems
    if op == "$ieq":
        return [] if isinstance(actual, str) and actual.casefold() == str(arg).casefold() else fail
    if op == "$in":
        return [] if any(not match(option, actual) for option in arg) else fail
    if op == "$ne":
        return [] if match(arg, actual) else fail
    if op in ("$gte", "$lte"):
        if not _both_numbers(arg, actual):
            return fail
        return [] if (actual >= arg if op == "$gte" else actual <= arg) else fail
    if op == "$startswith":
        return [] if isinstance(actual, str) and actual.lower().startswith(str(arg).lower()) else fail
    raise FixtureError(f"unknown matcher {op}")  # pragma: no cover - load_fixture refuses these


def _show(value: Any) -> str:
    if value is MISSING:
        return "<absent>"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=lambda _: "<absent>")
    return text if len(text) <= 300 else text[:300] + "…"


# --------------------------------------------------------------------------- substitution


class _NoResponse(Exception):
    """The server closed the connection or timed out instead of answering."""

    def __init__(self, request: str, error: httpx.TransportError) -> None:
        super().__init__(request)
        self.request = request
        self.error = error


class _Unresolved(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    """Replace ``${name}`` everywhere in ``value``; a string that is exactly one variable keeps its type."""
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        if whole:
            if whole[1] not in variables:
                raise _Unresolved(whole[1])
            return variables[whole[1]]

        def one(m: re.Match[str]) -> str:
            if m[1] not in variables:
                raise _Unresolved(m[1])
            return str(variables[m[1]])

        return _VAR.sub(one, value)
    if isinstance(value, dict):
        return {substitute(k, variables): substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    return value


# --------------------------------------------------------------------------- replay


@dataclass(frozen=True, slots=True)
class StepFailure:
    fixture: str
    index: int
    step: str
    request: str
    problems: tuple[str, ...]
    response: str

    def __str__(self) -> str:
        lines = [f"{self.fixture} › step {self.index} {self.step!r}", f"  request:  {self.request}"]
        lines += [f"  ✗ {p}" for p in self.problems]
        if self.response:
            lines.append(f"  response: {self.response}")
        return "\n".join(lines)


class ReplayFailure(AssertionError):
    def __init__(self, failures: Sequence[StepFailure], server_log: str = "") -> None:
        self.failures = tuple(failures)
        text = "\n\n".join(str(f) for f in failures)
        if server_log:
            text += "\n\n--- server log (tail) ---\n" + server_log
        super().__init__(f"{len(failures)} step(s) failed\n\n{text}")


@dataclass(slots=True)
class _Sent:
    method: str
    url: str
    body: Any
    response: httpx.Response

    def describe(self) -> str:
        text = f"{self.method} {self.url}"
        if self.body is not None:
            text += " " + _show(self.body)
        return text


@dataclass(slots=True)
class Replayer:
    """Sends a fixture's steps to ``base_url`` (the server's ``…/scim/v2``) as the IdP would."""

    client: httpx.AsyncClient
    base_url: str
    token: str
    seed_concurrency: int = 8
    failures: list[StepFailure] = field(default_factory=list)

    async def replay(self, fixture: Fixture) -> list[StepFailure]:
        """Run every step; the failures (also kept on ``self.failures``), empty when all passed."""
        variables: dict[str, Any] = dict(fixture.vars)
        found: list[StepFailure] = []
        for index, step in enumerate(fixture.steps, start=1):
            sent: _Sent | None = None
            request_text = "(not sent)"
            try:
                problems, sent = await self._run_step(fixture, step, variables)
            except _Unresolved as exc:
                problems = [f"variable ${{{exc.name}}} is not set (an earlier step did not capture it)"]
            except _NoResponse as exc:
                problems = [f"no HTTP response: {type(exc.error).__name__} {exc.error}".rstrip()]
                request_text = exc.request
            if problems:
                found.append(
                    StepFailure(
                        fixture=fixture.name,
                        index=index,
                        step=str(step["name"]),
                        request=sent.describe() if sent else request_text,
                        problems=tuple(problems),
                        response=_describe_response(sent.response) if sent else "",
                    )
                )
        self.failures.extend(found)
        return found

    async def _run_step(
        self, fixture: Fixture, step: Mapping[str, Any], variables: dict[str, Any]
    ) -> tuple[list[str], _Sent | None]:
        if "seed" in step:
            return await self._seed(fixture, step, variables)
        if "paginate" in step:
            return await self._paginate(fixture, step, variables)
        sent = await self._send(fixture, substitute(step["request"], variables))
        expect = substitute(step.get("expect", {}), variables)
        problems = self._check(fixture, expect, sent.response)
        for var, path in step.get("capture", {}).items():
            value = resolve(_json_or_missing(sent.response), path)
            if value is MISSING:
                problems.append(f"capture {var}: nothing at {path!r} in the response")
            else:
                variables[var] = value
        return problems, sent

    def _check(self, fixture: Fixture, expect: Mapping[str, Any], response: httpx.Response) -> list[str]:
        problems = match(expect["status"], response.status_code, "status")
        has_body = bool(response.content)
        header_rules = dict(fixture.every_response.get("headers", {})) if has_body else {}
        header_rules.update(expect.get("headers", {}))
        for name, rule in header_rules.items():
            problems += match(rule, response.headers.get(name, MISSING), f"header {name}")
        if expect.get("json"):
            document = _json_or_missing(response)
            if document is MISSING:
                problems.append("the response body is not JSON")
            else:
                for path, rule in expect["json"].items():
                    problems += match(rule, resolve(document, path), path)
        return problems

    async def _send(self, fixture: Fixture, request: Mapping[str, Any]) -> _Sent:
        headers = {k: v for k, v in fixture.headers.items() if v is not None}
        headers["Authorization"] = f"Bearer {self.token}"
        for name, value in request.get("headers", {}).items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        body = request.get("body")
        content: bytes | None = None
        if body is None:
            # IdPs send no Content-Type on requests without a body (Okta's logs show none on GET).
            headers.pop("Content-Type", None)
        else:
            content = json.dumps(body).encode()
        url = self.base_url.rstrip("/") + request["path"] + _query_string(request.get("query", {}))
        try:
            response = await self.client.request(request["method"], url, headers=headers, content=content)
        except httpx.TransportError as exc:
            raise _NoResponse(f"{request['method']} {url}", exc) from exc
        return _Sent(request["method"], url, body, response)

    async def _seed(
        self, fixture: Fixture, step: Mapping[str, Any], variables: Mapping[str, Any]
    ) -> tuple[list[str], _Sent | None]:
        spec = step["seed"]
        gate = asyncio.Semaphore(self.seed_concurrency)
        expected_status = step["expect"]["status"]

        async def one(i: int) -> tuple[list[str], _Sent]:
            request = substitute(spec["request"], {**variables, "i": i})
            async with gate:
                sent = await self._send(fixture, request)
            return match(expected_status, sent.response.status_code, f"seed #{i} status"), sent

        results = await asyncio.gather(*(one(i) for i in range(1, int(spec["count"]) + 1)))
        for problems, sent in results:
            if problems:
                return problems, sent
        return [], None

    async def _paginate(
        self, fixture: Fixture, step: Mapping[str, Any], variables: Mapping[str, Any]
    ) -> tuple[list[str], _Sent | None]:
        """Page like Okta's import: startIndex 1, 1+count, … until totalResults is reached.

        Checks what the importer relies on: integer ``totalResults``/``startIndex``/``itemsPerPage``,
        a ``startIndex`` that echoes the request, full pages until the last, a total that does not
        change between pages, no resource twice, and the same order when a page is asked again.
        """
        spec = substitute(step["paginate"], variables)
        expect = substitute(step["expect"], variables)
        count = int(spec["count"])
        problems: list[str] = []
        pages: list[list[Any]] = []
        totals: set[Any] = set()
        sent: _Sent | None = None
        start = 1
        while True:
            sent = await self._send(
                fixture,
                {
                    "method": "GET",
                    "path": spec["path"],
                    "query": {**spec.get("query", {}), "startIndex": str(start), "count": str(count)},
                },
            )
            page_problems = self._check(fixture, {"status": 200}, sent.response)
            body = _json_or_missing(sent.response)
            if page_problems or not isinstance(body, dict):
                return page_problems or ["the page is not a JSON object"], sent
            for attr in ("totalResults", "startIndex", "itemsPerPage"):
                problems += match({"$type": "integer"}, body.get(attr, MISSING), f"page {len(pages) + 1} {attr}")
            problems += match(
                {"$contains": LIST_RESPONSE}, body.get("schemas", MISSING), f"page {len(pages) + 1} schemas"
            )
            problems += match(start, body.get("startIndex", MISSING), f"page {len(pages) + 1} startIndex")
            resources = body.get("Resources", [])
            pages.append([r.get("id") for r in resources if isinstance(r, dict)])
            totals.add(body.get("totalResults"))
            total = body.get("totalResults")
            if problems or not isinstance(total, int) or not resources or start + count > total or len(pages) > 1000:
                break
            if len(resources) != count:
                problems.append(f"page {len(pages)} holds {len(resources)} resources, expected a full page of {count}")
                break
            start += count
        ids = [i for page in pages for i in page]
        if len(totals) > 1:
            problems.append(f"totalResults changed between pages: {sorted(map(str, totals))}")
        if len(ids) != len(set(ids)):
            problems.append(f"{len(ids) - len(set(ids))} resource(s) appear on more than one page")
        final_total = next(iter(totals)) if len(totals) == 1 else None
        if isinstance(final_total, int) and len(set(ids)) != final_total:
            problems.append(f"paging returned {len(set(ids))} distinct resources, totalResults says {final_total}")
        problems += match(expect["totalResults"], final_total, "totalResults")
        problems += match(expect["pages"], len(pages), "pages")
        if pages and not problems:
            again = await self._send(
                fixture,
                {
                    "method": "GET",
                    "path": spec["path"],
                    "query": {**spec.get("query", {}), "startIndex": "1", "count": str(count)},
                },
            )
            again_body = _json_or_missing(again.response)
            again_ids = [r.get("id") for r in again_body.get("Resources", [])] if isinstance(again_body, dict) else None
            if again_ids != pages[0]:
                problems.append("asking for the first page again returned a different order")
                sent = again
        return problems, sent if problems else None


def _query_string(query: Mapping[str, Any]) -> str:
    # Encode like Okta does (`filter=userName%20eq%20%22a%40b%22`): spaces as %20, nothing left raw.
    if not query:
        return ""
    return "?" + "&".join(f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in query.items())


def _json_or_missing(response: httpx.Response) -> Any:
    if not response.content:
        return MISSING
    try:
        return response.json()
    except ValueError:
        return MISSING


def _describe_response(response: httpx.Response) -> str:
    text = response.text
    if len(text) > _BODY_EXCERPT:
        text = text[:_BODY_EXCERPT] + f"… ({len(response.content)} bytes)"
    content_type = response.headers.get("content-type", "-")
    return f"{response.status_code} [{content_type}] {text}".rstrip()


# --------------------------------------------------------------------------- command line

_ROOT = Path(__file__).resolve().parents[2]


async def _replay_all(base_url: str, token: str, paths: Sequence[Path]) -> int:
    failed = 0
    async with httpx.AsyncClient(timeout=60) as client:
        for path in paths:
            fixture = load_fixture(path)
            failures = await Replayer(client, base_url, token).replay(fixture)
            passed = len(fixture.steps) - len(failures)
            sys.stdout.write(
                f"{'ok  ' if not failures else 'FAIL'} {fixture.name}: {passed}/{len(fixture.steps)} steps\n"
            )
            for failure in failures:
                sys.stdout.write(f"{failure}\n\n")
            failed += bool(failures)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Replay fixtures against any deployment: ``python -m tests.support.replay URL TOKEN [FIXTURE…]``.

    Each fixture creates and deletes users and groups, so point it at a scratch organisation,
    one fixture per fresh organisation when exact totals matter (the import fixture counts users).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.support.replay", description=main.__doc__)
    parser.add_argument("base_url", help="the SCIM base URL, e.g. https://scim.example.com/scim/v2")
    parser.add_argument("token", help="a scim_… token (or OAuth access token) of a scratch organisation")
    parser.add_argument("fixtures", nargs="*", type=Path, help="fixture files (default: all of idp-fixtures/)")
    args = parser.parse_args(argv)
    paths = args.fixtures or discover_fixtures(_ROOT / "idp-fixtures")
    return asyncio.run(_replay_all(args.base_url, args.token, paths))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
