"""Packaging: the MCP Bundle manifest, the MCP registry's server.json, the licence metadata and
the console script's --version/--help.

Everything here runs offline: the two schemas are stored beside this file (SCHEMAS.md says where
they come from). The one check that uses the real ``mcpb`` CLI runs it from the npm cache only,
and is skipped when it is not cached.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import anyio
import pytest
from jsonschema import Draft7Validator
from mcp import Client, StdioServerParameters

import caller_mcp
from caller_mcp.cli import main

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

#: The tools and the prompt the server registers (the README's "Tools" and "Resources and
#: prompt" tables). A constant, so that these checks do not depend on where the server is built.
TOOLS = (
    "set_business_context",
    "place_call",
    "submit_batch",
    "get_call",
    "get_batch_status",
    "list_calls",
    "list_batches",
    "retry_batch",
    "cancel_batch",
    "run_test_suite",
    "get_test_run",
    "record_verdict",
    "get_test_report",
    "estimate_cost",
)
PROMPTS = {"test_phone_line": ["phone_number", "business_description", "goals"]}

#: Bundle setting → the environment variable the server reads it from.
USER_CONFIG_ENV = {
    "elevenlabs_api_key": "ELEVENLABS_API_KEY",
    "elevenlabs_agent_id": "ELEVENLABS_AGENT_ID",
    "elevenlabs_agent_phone_number_id": "ELEVENLABS_AGENT_PHONE_NUMBER_ID",
}
SECRET = "ELEVENLABS_API_KEY"

MCPB_CLI = "@anthropic-ai/mcpb@2.1.2"  # the release the stored bundle schema comes from


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


REGISTRY_SCHEMA = load(HERE / "server.schema.json")
MCPB_SCHEMA = load(HERE / "mcpb-manifest-v0.3.schema.json")


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def manifest() -> dict:
    return load(ROOT / "manifest.json")


@pytest.fixture(scope="module")
def server_json() -> dict:
    return load(ROOT / "server.json")


def errors(schema: dict, document: dict) -> list[str]:
    """Every schema violation in ``document``, as ``path: message`` lines."""
    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


# --- licence metadata ----------------------------------------------------------------------------


def test_licence_is_an_spdx_string_with_its_file(pyproject):
    project = pyproject["project"]
    assert project["license"] == "MIT"  # PEP 639; a TOML table makes setuptools warn
    assert project["license-files"] == ["LICENSE"]
    licence = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "caller-mcp contributors" in licence
    # setuptools 77 is the first to read both fields; older ones reject the string.
    assert "setuptools>=77" in pyproject["build-system"]["requires"]


def test_every_published_version_is_the_package_version(pyproject, manifest, server_json):
    version = pyproject["project"]["version"]
    assert caller_mcp.__version__ == version
    assert manifest["version"] == version
    assert server_json["version"] == version
    assert [p["version"] for p in server_json["packages"]] == [version]


# --- server.json (official MCP registry) ---------------------------------------------------------


def test_server_json_validates_against_the_registry_schema(server_json):
    assert server_json["$schema"] == REGISTRY_SCHEMA["$id"]
    assert errors(REGISTRY_SCHEMA, server_json) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(name="caller-mcp"), "does not match"),  # needs namespace/name
        (lambda d: d.update(description="x" * 101), "is too long"),
        (lambda d: d["packages"][0].update(version="latest"), "should not be valid"),
        (lambda d: d["packages"][0].update(transport={"type": "carrier-pigeon"}), "is not valid under any"),
        (lambda d: d["packages"][0]["environmentVariables"][0].update(isSecret="yes"), "is not of type 'boolean'"),
        (lambda d: d["packages"][0].pop("identifier"), "'identifier' is a required property"),
    ],
)
def test_registry_schema_rejects_what_the_registry_rejects(server_json, change, expected):
    broken = copy.deepcopy(server_json)
    change(broken)
    found = errors(REGISTRY_SCHEMA, broken)
    assert any(expected in line for line in found), found


def test_server_json_installs_the_pypi_console_script_over_stdio(pyproject, server_json):
    assert re.fullmatch(r"io\.github\.[A-Za-z0-9-]+/caller-mcp", server_json["name"])
    (package,) = server_json["packages"]
    assert package["registryType"] == "pypi"
    assert package["identifier"] == pyproject["project"]["name"] == "caller-mcp"
    assert "caller-mcp" in pyproject["project"]["scripts"]  # what `uvx caller-mcp` runs
    assert package["transport"] == {"type": "stdio"}
    variables = {v["name"]: v for v in package["environmentVariables"]}
    assert set(variables) == set(USER_CONFIG_ENV.values())
    assert {name for name, v in variables.items() if v.get("isSecret")} == {SECRET}
    # None is required: with none of them set the server runs on its sandbox.
    assert not any(v.get("isRequired") for v in variables.values())


# --- manifest.json (MCP Bundle) ------------------------------------------------------------------


def test_manifest_validates_against_the_bundle_schema(manifest):
    assert errors(MCPB_SCHEMA, manifest) == []
    # The one rule of `mcpb validate` that its JSON schema does not state.
    assert manifest["manifest_version"] == MCPB_SCHEMA["properties"]["manifest_version"]["const"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("author"), "'author' is a required property"),
        (lambda d: d.update(homepage_url="https://example.com"), "Additional properties"),
        (lambda d: d["server"].update(type="ruby"), "is not one of"),
        (lambda d: d["user_config"]["elevenlabs_api_key"].update(type="password"), "is not one of"),
        (lambda d: d["prompts"][0].pop("text"), "'text' is a required property"),
    ],
)
def test_bundle_schema_rejects_what_mcpb_rejects(manifest, change, expected):
    broken = copy.deepcopy(manifest)
    change(broken)
    found = errors(MCPB_SCHEMA, broken)
    assert any(expected in line for line in found), found


def test_manifest_runs_the_caller_mcp_module(manifest):
    server = manifest["server"]
    assert server["type"] == "python"
    assert server["mcp_config"]["command"] == "python"
    assert server["mcp_config"]["args"] == ["-m", "caller_mcp"]
    assert (ROOT / server["entry_point"]).is_file()  # the file `python -m caller_mcp` runs
    assert manifest["compatibility"]["runtimes"]["python"] == ">=3.11"


def test_manifest_lists_the_servers_tools_and_prompt(manifest):
    tools = [t["name"] for t in manifest["tools"]]
    assert sorted(tools) == sorted(TOOLS) and len(tools) == len(set(tools))
    for tool in manifest["tools"]:
        assert tool["description"].strip() and "\n" not in tool["description"], tool
    assert {p["name"]: p["arguments"] for p in manifest["prompts"]} == PROMPTS
    for prompt in manifest["prompts"]:
        used = set(re.findall(r"\$\{arguments\.([^}]+)\}", prompt["text"]))
        assert used == set(prompt["arguments"]), prompt["name"]
    assert not manifest.get("tools_generated") and not manifest.get("prompts_generated")


def test_manifest_settings_map_to_the_servers_environment(manifest):
    config = manifest["user_config"]
    env = manifest["server"]["mcp_config"]["env"]
    assert set(config) == set(USER_CONFIG_ENV)
    assert env == {var: f"${{user_config.{key}}}" for key, var in USER_CONFIG_ENV.items()}
    assert {key for key, option in config.items() if option.get("sensitive")} == {"elevenlabs_api_key"}
    assert not any(option.get("required") for option in config.values())
    assert all(option["type"] == "string" for option in config.values())


def host_config(manifest: dict, user_values: dict[str, str]) -> dict:
    """``mcp_config`` after a bundle host's substitution, as ``@anthropic-ai/mcpb`` does it:
    manifest defaults, then the user's values; a ``${user_config.KEY}`` with neither stays as is."""
    values = {k: o["default"] for k, o in manifest["user_config"].items() if "default" in o} | user_values

    def substitute(text: str) -> str:
        return re.sub(
            r"\$\{user_config\.([^}]+)\}",
            lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0),
            text,
        )

    config = manifest["server"]["mcp_config"]
    return {
        "command": config["command"],
        "args": [substitute(a) for a in config["args"]],
        "env": {k: substitute(v) for k, v in config.get("env", {}).items()},
    }


def test_settings_left_empty_reach_the_server_as_empty_not_as_placeholders(manifest):
    # Without a default, a host passes the literal "${user_config.…}", which the server would
    # take for a real key, agent and number: not the sandbox the user asked for.
    env = host_config(manifest, {})["env"]
    assert env == {var: "" for var in USER_CONFIG_ENV.values()}
    filled = host_config(manifest, {"elevenlabs_api_key": "k", "elevenlabs_agent_id": "a",
                                    "elevenlabs_agent_phone_number_id": "p"})["env"]
    assert filled == {"ELEVENLABS_API_KEY": "k", "ELEVENLABS_AGENT_ID": "a", "ELEVENLABS_AGENT_PHONE_NUMBER_ID": "p"}


@pytest.mark.anyio
async def test_the_bundle_command_serves_the_manifests_tools_on_the_sandbox(manifest, tmp_path):
    """Launch the server as a bundle host would with no settings filled in; what it registers
    is what the manifest lists, and it runs on the sandbox (the call below is a dry run)."""
    config = host_config(manifest, {})
    params = StdioServerParameters(
        command=sys.executable,  # "python" in the manifest: the interpreter caller-mcp is installed in
        args=config["args"],
        env={**config["env"], "CALLER_MCP_DB": str(tmp_path / "bundle.sqlite3")},
    )
    with anyio.fail_after(60):
        async with Client(params, raise_exceptions=True) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            prompts = {p.name: [a.name for a in p.arguments or []] for p in (await client.list_prompts()).prompts}
            dry_run = await client.call_tool(
                "place_call",
                {"to_number": "+15551234567", "business_description": "We are Pizza Palace.", "dry_run": True},
            )
    assert tools == {t["name"] for t in manifest["tools"]}
    assert prompts == {p["name"]: p["arguments"] for p in manifest["prompts"]}
    assert dry_run.is_error is False
    assert dry_run.structured_content["provider"] == "elevenlabs"
    assert dry_run.structured_content["sandbox"] is True


def test_mcpb_cli_validates_the_manifest():
    """The real ``mcpb validate``, from the npm cache only (``--offline``): no network at test time."""
    npx = shutil.which("npx")
    if npx is None or shutil.which("node") is None:
        pytest.skip("npx/node not installed; the JSON-schema test above covers the manifest")
    try:
        run = subprocess.run(
            [npx, "--offline", "--yes", MCPB_CLI, "validate", str(ROOT / "manifest.json")],
            capture_output=True, text=True, timeout=120, cwd=ROOT,
            env={**os.environ, "npm_config_update_notifier": "false"},
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npx did not answer within 120 s")
    output = run.stdout + run.stderr
    if "ENOTCACHED" in output:
        pytest.skip(f"{MCPB_CLI} is not in the npm cache; cache it with `npx -y {MCPB_CLI} --version`")
    assert run.returncode == 0, output
    assert "Manifest schema validation passes!" in run.stdout


# --- the console script --------------------------------------------------------------------------


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"caller-mcp {caller_mcp.__version__}"


def test_help_lists_the_commands_and_points_to_the_configuration_table(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "sandbox-api" in out
    assert "serve MCP over stdio" in out  # what no command does
    assert "--version" in out
    assert '"Configuration" table' in out and "ELEVENLABS_API_KEY" in out
