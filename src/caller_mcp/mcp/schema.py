"""Tool schemas that are strict, portable and small.

The whole ``tools/list`` answer is paid for in every conversation, and clients differ in which
JSON Schema they accept, so:

- input schemas lose the ``title`` keywords pydantic adds (they only repeat property names) and
  ``default: null``; an optional parameter is described by its type alone (it may be left out;
  an explicit ``null`` is still accepted), which every client reads — MCP Inspector's
  ``--strict`` warns on ``type: [T, "null"]``. An unknown argument is refused when called
  (:class:`~caller_mcp.mcp.sdk.StrictTool`), and says so, without spending schema on it;
- output schemas describe the structured content as it is sent — null fields left out — so a
  field that is always present is ``required`` and none allows ``null``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A compact, strict copy of a tool's generated input schema (see the module docstring)."""
    return _strip(schema, output=False)


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The output schema of a tool answering ``model`` as structured content without null fields.

    ``required`` lists every field of the answer that is always sent: those without a default and
    those whose default is not ``None`` (lists, booleans, counts).
    """
    out = _strip(model.model_json_schema(mode="serialization"), output=True)
    out["required"] = _always_present(model)
    return out


def _always_present(model: type[BaseModel]) -> list[str]:
    return [
        name
        for name, field in model.model_fields.items()
        if field.is_required() or field.default is not None or field.default_factory is not None
    ]


def _strip(schema: Any, *, output: bool) -> Any:
    """Drop titles, null defaults and null alternatives; for output schemas also defaults,
    descriptions and pydantic's own ``required``."""
    if isinstance(schema, list):
        return [_strip(item, output=output) for item in schema]
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
        if key == "default" and (output or value is None):
            continue
        if output and ((key == "description" and isinstance(value, str)) or key == "required"):
            continue
        if key in ("$defs", "definitions") and isinstance(value, dict):  # a model's docstring is for developers
            out[key] = {
                name: _strip({k: v for k, v in sub.items() if k != "description"}, output=output)
                for name, sub in value.items()
            }
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _strip(sub, output=output) for name, sub in value.items()}
        else:
            out[key] = _strip(value, output=output)
    return out


__all__ = ["input_schema", "output_schema"]
