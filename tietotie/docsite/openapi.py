"""The API reference: the service's OpenAPI description rendered as plain Markdown (no scripts)."""

from __future__ import annotations

import json
import re
from typing import Any

from tietotie.docsite.md import code, esc, table

__all__ = ["openapi_markdown"]

_METHODS = ("get", "post", "put", "patch", "delete")
_UNSAFE = re.compile(r"[^a-z0-9]+")


def _anchor(name: str) -> str:
    return "schema-" + _UNSAFE.sub("-", name.lower()).strip("-")


def _op_anchor(method: str, path: str) -> str:
    return _UNSAFE.sub("-", f"{method} {path}".lower()).strip("-")


def _type(schema: dict[str, Any] | None) -> str:
    """A schema's type in a few words, with links to named component schemas."""
    if not schema:
        return "any"
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return f"[{esc(name)}](#{_anchor(name)})"
    for combo, joiner in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if combo in schema:
            parts = [_type(s) for s in schema[combo]]
            return joiner.join(p for p in parts if p) or "any"
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema.get('items'))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {_type(schema['additionalProperties'])}"
    if "enum" in schema:
        return " \\| ".join(code(json.dumps(v, ensure_ascii=False)) for v in schema["enum"])
    if "const" in schema:
        return code(json.dumps(schema["const"], ensure_ascii=False))
    text = str(kind or "any")
    if "format" in schema:
        text += f" ({schema['format']})"
    return text


def _body_schema(content: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    for media, spec in content.items():
        return media, spec.get("schema")
    return "", None


def _operation(method: str, path: str, op: dict[str, Any]) -> list[str]:
    title = f"{method.upper()} {path}"
    out = [f"### {code(title)} {{ #{_op_anchor(method, path)} }}", ""]
    if op.get("summary"):
        out += [f"**{esc(op['summary'])}**", ""]
    if op.get("description"):
        out += [esc(op["description"]), ""]
    params = op.get("parameters", [])
    if params:
        out.append(
            table(
                ["parameter", "in", "type", "required", "description"],
                [
                    (
                        code(p.get("name", "")),
                        esc(p.get("in", "")),
                        _type(p.get("schema")),
                        "yes" if p.get("required") else "no",
                        esc(p.get("description", "")),
                    )
                    for p in params
                ],
            )
        )
        out.append("")
    body = op.get("requestBody")
    if body:
        media, schema = _body_schema(body.get("content", {}))
        required = " (required)" if body.get("required") else ""
        out += [f"Request body{required}: {code(media)} {_type(schema)}", ""]
    responses = op.get("responses", {})
    if responses:
        rows = []
        for status, resp in responses.items():
            media, schema = _body_schema(resp.get("content", {}))
            rows.append(
                (code(status), esc(resp.get("description", "")), _type(schema) if media else "–")
            )
        out.append(table(["status", "description", "body"], rows))
        out.append("")
    return out


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    out = [f"### {esc(name)} {{ #{_anchor(name)} }}", ""]
    if schema.get("description"):
        out += [esc(schema["description"]), ""]
    props = schema.get("properties")
    if isinstance(props, dict) and props:
        required = set(schema.get("required", []))
        out.append(
            table(
                ["property", "type", "required", "description"],
                [
                    (
                        code(key),
                        _type(value),
                        "yes" if key in required else "no",
                        esc(value.get("description", value.get("title", ""))),
                    )
                    for key, value in props.items()
                ],
            )
        )
    elif "enum" in schema:
        out.append("One of: " + _type(schema))
    else:
        out.append(f"Type: {_type(schema)}")
    out.append("")
    return out


def openapi_markdown(spec: dict[str, Any]) -> str:
    """Paths with their methods, summaries, parameters and bodies, then the schemas."""
    info = spec.get("info", {})
    out = [
        f"# API reference: {esc(info.get('title', 'tietotie'))} {esc(info.get('version', ''))}",
        "",
    ]
    if info.get("description"):
        out += [esc(info["description"]), ""]
    out += [
        "Rendered from the service's OpenAPI description when the site is built; the same "
        "description is served by the running service at `/openapi.json`.",
        "",
    ]
    paths: dict[str, Any] = spec.get("paths", {})
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in paths.items():
        for method in _METHODS:
            op = item.get(method)
            if op is not None:
                tag = (op.get("tags") or ["service"])[0]
                by_tag.setdefault(str(tag), []).append((method, path, op))
    out += ["## Endpoints { #endpoints }", ""]
    out.append(
        table(
            ["method and path", "summary"],
            [
                (f"[{code(m.upper() + ' ' + p)}](#{_op_anchor(m, p)})", esc(op.get("summary", "")))
                for ops in by_tag.values()
                for m, p, op in ops
            ],
        )
    )
    out.append("")
    for tag, ops in by_tag.items():
        out += [f"## {esc(tag)} {{ #tag-{_UNSAFE.sub('-', tag.lower()).strip('-')} }}", ""]
        for method, path, op in ops:
            out += _operation(method, path, op)
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        out += ["## Schemas { #schemas }", ""]
        for name in sorted(schemas):
            out += _schema(name, schemas[name])
    return "\n".join(out)
