"""Tool schemas that are strict, portable and small.

The whole ``tools/list`` answer is paid for in every conversation, and clients differ in which
JSON Schema they accept, so:

- input schemas lose the ``title`` keywords pydantic adds (they only repeat property names) and
  ``default: null``; an optional parameter is described by its type alone (it may be left out;
  an explicit ``null`` is still accepted), which every client reads — MCP Inspector's
  ``--strict`` warns on ``type: [T, "null"]``. An unknown argument is refused when called
  (:class:`~caller_mcp.mcp.sdk.StrictTool`), and says so, without spending schema on it;
- no output schemas are published (:class:`~caller_mcp.mcp.sdk.StrictTool` says why).
"""

from __future__ import annotations

from typing import Any


def input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A compact, strict copy of a tool's generated input schema (see the module docstring)."""
    return _strip(schema)


def _strip(schema: Any) -> Any:
    """Drop titles, null defaults and null alternatives."""
    if isinstance(schema, list):
        return [_strip(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    schema = dict(schema)
    any_of = schema.get("anyOf")
    if isinstance(any_of, list):
        options = [o for o in any_of if o != {"type": "null"}]
        if len(options) == 1:
            del schema["anyOf"]
            schema = {**options[0], **schema}
        else:
            schema["anyOf"] = options
    if schema.get("additionalProperties") is True:  # the default; says nothing
        del schema["additionalProperties"]
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and value is None:
            continue
        if key in ("$defs", "definitions") and isinstance(value, dict):  # a model's docstring is for developers
            out[key] = {
                name: _strip({k: v for k, v in sub.items() if k != "description"})
                for name, sub in value.items()
            }
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _strip(sub) for name, sub in value.items()}
        else:
            out[key] = _strip(value)
    return out


__all__ = ["input_schema"]
