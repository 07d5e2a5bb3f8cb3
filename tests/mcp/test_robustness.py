"""Hostile and malformed input over stdio, against the real console script.

Every bad line or argument gets a JSON-RPC error or a tool error (``isError: true``), the process
keeps serving, nothing is dialled for a refused input, and no secret reaches stdout or stderr.
"""

from __future__ import annotations

import json
import random

from tests.e2e.test_cli import SCRIPT, StdioServer, clean_env, free_port, initialize, rpc

PIZZA = "We are Pizza Palace."
VALID = "+15551234567"  # fictional; fine in the sandbox
MEGABYTE = 1_000_000
#: The longest error answer accepted: an error must never echo a megabyte back at the model.
MAX_ERROR_LINE = 20_000
KEY = "sk_live_SUPERSECRET_9"


def next_message(server: StdioServer, timeout: float = 30) -> dict:
    """The next stdout line, parsed (it must be JSON)."""
    line = server.lines.get(timeout=timeout)
    assert line is not None, "the server closed stdout"
    server.stdout.append(line)
    return json.loads(line)


def refused(server: StdioServer, line: str, id_: int | None) -> dict:
    """Send one line; its answer, the next message on stdout, must be a JSON-RPC error or a tool
    error for ``id_``.
    """
    server.send(line)
    message = next_message(server)
    assert message.get("id") == id_, message
    assert message.get("jsonrpc") == "2.0"
    if "error" in message:
        assert isinstance(message["error"]["code"], int) and message["error"]["message"]
    else:
        assert message["result"]["isError"] is True, message
        assert "Traceback" not in message["result"]["content"][0]["text"]
    assert len(json.dumps(message)) < MAX_ERROR_LINE, "the error echoes the input back"
    return message


def tool_call(id_: int, name: str, arguments: object) -> str:
    return rpc(id_, "tools/call", {"name": name, "arguments": arguments})


def test_malformed_and_hostile_input_is_answered_and_the_server_keeps_serving(tmp_path):
    server = StdioServer([SCRIPT], clean_env(tmp_path))  # sandbox: no ELEVENLABS_* variables
    initialize(server)
    junk = random.Random(2026)
    latin1_line = bytes(junk.choice([b for b in range(256) if b not in b"\r\n"]) for _ in range(10_000)).decode("latin-1")

    # Lines that are not JSON-RPC: answered with the right code, and with the id where one can be
    # read (JSON-RPC 2.0), else id null.
    for line, code, id_ in [
        ("not json", -32700, None),
        ("{", -32700, None),
        ("[1,2", -32700, None),
        ('{"a":1}', -32600, None),
        (latin1_line, -32700, None),
        ("null", -32600, None),
        ('{"jsonrpc":"2.0","id":7}', -32600, 7),
    ]:
        message = refused(server, line, id_)
        assert message["id"] == id_ and message["error"]["code"] == code, (line[:20], message)
    # The same random bytes raw (not UTF-8 at all).
    server.process.stdin.buffer.write(bytes(ord(c) for c in latin1_line) + b"\n")
    server.process.stdin.flush()
    assert next_message(server)["error"]["code"] == -32700

    message = refused(server, rpc(2, "no/such_method"), 2)
    assert message["error"]["code"] == -32601

    ids = iter(range(10, 1000))
    bad_calls = [
        ("no_such_tool", {}),
        # wrong argument types
        ("place_call", {"to_number": 15551234567, "business_description": PIZZA}),
        ("place_call", {"to_number": [VALID], "business_description": PIZZA}),
        ("place_call", {"to_number": {"number": VALID}, "business_description": PIZZA}),
        ("place_call", {"to_number": VALID, "business_description": PIZZA, "dry_run": "maybe"}),
        ("submit_batch", {"recipients": VALID, "business_description": PIZZA}),
        ("submit_batch", {"recipients": {"phone_number": VALID}, "business_description": PIZZA}),
        ("list_calls", {"limit": "many"}),
        ("list_calls", {"limit": [20]}),
        ("get_batch_status", {"batch_id": 12345}),
        # a megabyte where a short text belongs
        ("place_call", {"to_number": "+" + "1" * MEGABYTE, "business_description": PIZZA}),
        ("place_call", {"to_number": VALID, "business_description": "P" * MEGABYTE}),
        ("submit_batch", {"recipients": [VALID], "business_description": "P" * MEGABYTE}),
        ("set_business_context", {"description": "P" * MEGABYTE}),
        ("get_batch_status", {"batch_id": "b" * MEGABYTE}),
        ("cancel_batch", {"batch_id": "b" * MEGABYTE}),
        # control characters
        *[("place_call", {"to_number": VALID[:5] + c + VALID[5:], "business_description": PIZZA}) for c in "\x00\x07\x1b"],
        *[("place_call", {"to_number": VALID, "business_description": PIZZA, "scenario": f"order{c}pizza"}) for c in "\x00\x07\x1b"],
        *[("place_call", {"to_number": VALID, "business_description": f"Pizza{c}Palace"}) for c in "\x00\x07\x1b"],
        ("submit_batch", {"recipients": [{"phone_number": VALID, "scenario": "\x1b[2Jorder"}], "business_description": PIZZA}),
        ("set_business_context", {"description": "\x1b[31mPizza"}),
        # non-BMP characters where they do not belong
        ("place_call", {"to_number": "+1555😀1234567", "business_description": PIZZA}),
        ("place_call", {"to_number": VALID, "business_description": PIZZA, "scenario": "😀" * 2_001}),
        ("submit_batch", {"recipients": ["+1555😀1234567"], "business_description": PIZZA, "scenario": "🍕" * 10}),
        # lone surrogates, escaped in the JSON text (json.dumps writes "\ud800")
        ("place_call", {"to_number": VALID, "business_description": "Pizza \ud800 Palace"}),
        ("place_call", {"to_number": VALID, "business_description": PIZZA, "scenario": "order \udfff"}),
        ("place_call", {"to_number": "+1555\ud8001234567", "business_description": PIZZA}),
    ]
    for name, arguments in bad_calls:
        id_ = next(ids)
        refused(server, tool_call(id_, name, arguments), id_)  # its own id, even with a lone surrogate
    # Legitimate non-BMP text: emoji in a description and a scenario with a valid number, sent as
    # raw UTF-8; and emoji as JSON surrogate-pair escapes in the stored context.
    legit = json.dumps(
        {"jsonrpc": "2.0", "id": 900, "method": "tools/call",
         "params": {"name": "place_call", "arguments": {
             "to_number": VALID, "business_description": "🍕 Pizza Palace 😀", "scenario": "😀" * 50}}},
        ensure_ascii=False,
    )
    server.send(legit)
    placed = server.answer(900)["result"]
    assert placed["isError"] is False, placed
    assert placed["structuredContent"]["provider"] == "elevenlabs" and placed["structuredContent"]["sandbox"] is True
    assert placed["structuredContent"]["scenario"] == "😀" * 50
    server.send(tool_call(901, "set_business_context", {"description": "🍕 Pizza Palace 𝔓"}))
    context = server.answer(901)["result"]
    assert context["isError"] is False and context["structuredContent"]["description"] == "🍕 Pizza Palace 𝔓"

    server.send(tool_call(902, "list_calls", {}))
    calls = server.answer(902)["result"]["structuredContent"]
    assert calls["count"] == 1, calls
    assert calls["calls"][0]["to_number"] == VALID and calls["calls"][0]["scenario"] == "😀" * 50

    server.send(rpc(903, "tools/list"))
    assert len(server.answer(903)["result"]["tools"]) == 14
    stderr = server.close()
    assert server.process.returncode == 0, stderr
    assert all(json.loads(line)["jsonrpc"] == "2.0" for line in server.stdout if line.strip())


def test_the_api_key_never_reaches_stdout_or_stderr_even_at_debug_level(tmp_path):
    env = {
        **clean_env(tmp_path),
        "CALLER_MCP_LOG_LEVEL": "DEBUG",
        "ELEVENLABS_API_KEY": KEY,
        "ELEVENLABS_AGENT_ID": "agent_1",
        "ELEVENLABS_AGENT_PHONE_NUMBER_ID": "phnum_1",
        "ELEVENLABS_PHONE_PROVIDER": "twilio",  # no phone-number lookup before a dry run
        "ELEVENLABS_API_BASE": f"http://127.0.0.1:{free_port()}",  # nothing listens: connect refused
    }
    server = StdioServer([SCRIPT], env)
    initialize(server)
    steps = {
        2: ("set_business_context", {"description": PIZZA}),
        3: ("place_call", {"to_number": "+14155550123"}),
        4: ("place_call", {"to_number": "+14155550123", "scenario": "ask the opening hours", "dry_run": True}),
        5: ("submit_batch", {"recipients": ["+14155550123", "+442071838750"], "dry_run": True}),
        6: ("get_batch_status", {"batch_id": "btcal_x"}),
        7: ("list_calls", {}),
    }
    results = {}
    for id_, (name, arguments) in steps.items():
        server.send(tool_call(id_, name, arguments))
        results[id_] = server.answer(id_, timeout=45)["result"]
    stderr = server.close()

    assert [results[i]["isError"] for i in steps] == [False, True, False, False, True, False]
    assert "Could not reach ElevenLabs" in results[3]["content"][0]["text"]
    call_preview = results[4]["structuredContent"]["request"]
    batch_preview = results[5]["structuredContent"]["request"]
    assert call_preview["headers"] == {"xi-api-key": "***"}
    assert batch_preview["headers"] == {"xi-api-key": "***"}
    assert call_preview["body"]["to_number"] == "+14155550123"
    assert results[7]["structuredContent"]["calls"][0]["status"] == "failed"
    assert "DEBUG" in stderr and "retrying ElevenLabs" in stderr  # the log was on, retries logged
    for text in [*server.stdout, stderr]:
        assert KEY not in text
        assert "SUPERSECRET" not in text
