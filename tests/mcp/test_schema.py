"""``input_schema`` on small pydantic models: compact, portable, strict."""

from __future__ import annotations

from typing import Any

import jsonschema
from pydantic import BaseModel, Field, TypeAdapter

from caller_mcp.mcp.schema import input_schema


class Item(BaseModel):
    """A nested model (its docstring is for developers, not the schema)."""

    name: str = Field(title="Item Name", description="Said to the model.")
    note: str | None = None


class Arguments(BaseModel):
    to_number: str = Field(description="E.164.", json_schema_extra={"pattern": r"^\+\d+$"})
    scenario: str | None = Field(default=None, description="Goal.")
    limit: int | None = None
    dry_run: bool = False
    items: list[str | Item] = Field(default_factory=list)
    extra: dict[str, Any] | None = None


def generated(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def test_optional_parameters_become_a_plain_type_without_null_or_default_null():
    schema = input_schema(generated(Arguments))
    props = schema["properties"]
    assert props["scenario"] == {"type": "string", "description": "Goal."}
    assert props["limit"] == {"type": "integer"}
    assert props["extra"] == {"type": "object"}


def test_input_schema_keeps_descriptions_patterns_real_defaults_and_required():
    schema = input_schema(generated(Arguments))
    props = schema["properties"]
    assert props["to_number"] == {"type": "string", "description": "E.164.", "pattern": r"^\+\d+$"}
    assert props["dry_run"] == {"type": "boolean", "default": False}
    assert schema["required"] == ["to_number"]
    assert schema["type"] == "object"


def test_input_schema_drops_titles_everywhere_and_model_docstrings_in_defs():
    schema = input_schema(generated(Arguments))
    assert "title" not in schema
    assert all("title" not in prop for prop in schema["properties"].values())
    item = schema["$defs"]["Item"]
    assert "title" not in item and "description" not in item
    assert item["properties"]["name"] == {"type": "string", "description": "Said to the model."}
    assert item["properties"]["note"] == {"type": "string"}
    assert item["required"] == ["name"]


def test_a_union_of_real_alternatives_keeps_its_anyof():
    items = input_schema(generated(Arguments))["properties"]["items"]
    assert items["type"] == "array"
    assert items["items"]["anyOf"] == [{"type": "string"}, {"$ref": "#/$defs/Item"}]


def test_a_property_named_title_is_kept():
    class Titled(BaseModel):
        title: str
        default: str | None = None

    schema = input_schema(generated(Titled))
    assert set(schema["properties"]) == {"title", "default"}
    assert schema["properties"]["title"] == {"type": "string"} and schema["required"] == ["title"]


def test_input_schema_does_not_change_its_argument():
    original = generated(Arguments)
    copy = generated(Arguments)
    input_schema(original)
    assert original == copy


def test_input_schema_still_validates_what_the_model_accepts():
    schema = input_schema(generated(Arguments))
    good = {"to_number": "+15551234567", "items": ["+1555", {"name": "x"}], "dry_run": True}
    jsonschema.Draft202012Validator(schema).validate(good)
    Arguments.model_validate(good)
    assert not jsonschema.Draft202012Validator(schema).is_valid({"scenario": "x"})  # to_number missing


def test_a_plain_schema_passes_through_unchanged():
    schema = TypeAdapter(list[int]).json_schema()
    assert input_schema(schema) == schema == {"items": {"type": "integer"}, "type": "array"}
