"""The terminal boundary of ``edgeplane.cli.output``: ``terminal_safe`` and the consoles
and YAML that apply it, so text from sites never reaches a terminal raw."""

from __future__ import annotations

import io
import json
import re
import sys
import unicodedata
from typing import Any

import httpx
import pytest
import yaml
from rich.table import Table
from rich.text import Text

from edgeplane.cli.output import SafeConsole, cell, print_log, terminal_safe, to_yaml

RAW = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, ünïcødé ☃", "plain text, ünïcødé ☃"),
        ("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),
        ("row\r\nfake", "row\\r\\nfake"),
        ("tab\there", "tab\\there"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("csi\x9b2J", "csi\\x9b2J"),
        ("del\x7f", "del\\x7f"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("nul\x00", "nul\\x00"),
        ("line\u2028sep", "line\\u2028sep"),
    ],
    ids=[
        "plain",
        "osc52",
        "crlf",
        "tab",
        "sgr",
        "c1-csi",
        "del",
        "bidi",
        "zwsp",
        "tag",
        "nul",
        "ls",
    ],
)
def test_terminal_safe_makes_controls_visible(text: str, shown: str) -> None:
    assert terminal_safe(text) == shown


def test_terminal_safe_keeps_what_it_is_told() -> None:
    assert terminal_safe("a\n\tb\x1b\r", keep="\n\t") == "a\n\tb\\x1b\\r"


def test_every_control_format_and_separator_character_is_escaped() -> None:
    unsafe = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    missed = [
        hex(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in unsafe and terminal_safe(chr(code)) == chr(code)
    ]
    assert missed == []


def rendered(*objects: object, markup: bool = False) -> str:
    console = SafeConsole(file=io.StringIO(), width=200, emoji=False, highlight=False)
    console.print(*objects, markup=markup)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def test_the_console_escapes_strings_markup_and_text() -> None:
    assert rendered("a\x1b[2Jb\nc") == "a\\x1b[2Jb\\nc\n"
    assert rendered("[red]error:[/red] \x1b]0;title\x07", markup=True) == (
        "error: \\x1b]0;title\\x07\n"
    )
    styled = Text("keep ")
    styled.append("red\x1bx", style="red")
    assert rendered(styled) == "keep red\\x1bx\n"


def test_a_table_cell_cannot_forge_a_row() -> None:
    grid = Table(box=None, show_header=False)
    grid.add_column("A", no_wrap=True)
    grid.add_row(cell("ok\r\nshop-2  Online\x07"))
    grid.add_row(Text("plain\nsplit"))  # a Text made elsewhere is escaped by the console
    lines = rendered(grid).splitlines()
    assert [line.strip() for line in lines] == ["ok\\r\\nshop-2  Online\\x07", "plain\\nsplit"]


def test_yaml_quotes_and_escapes_control_characters_and_reads_back() -> None:
    data = {"message": "a\x1b]52;c;aGk=\x07\r\nb", "plain": "ok", "multi": "x\ny"}
    text = to_yaml(data)
    assert not RAW.search(text.replace("\n", ""))
    assert all(line.startswith(("message:", "plain:", "multi:")) for line in text.splitlines())
    assert yaml.safe_load(text) == data


def test_logs_keep_lines_and_tabs(capsys: pytest.CaptureFixture[str]) -> None:
    print_log("one\n\ttwo\x1b[2K\rthree")
    assert capsys.readouterr().out == "one\n\ttwo\\x1b[2K\\rthree\n"


HOSTILE = "x\x1b]52;c;aGk=\x07\r\nforged"


def test_explain_errors_and_watch_events_are_escaped(mock_cli: Any) -> None:
    def hub(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/explain"):
            body = {"sites": [HOSTILE], "wanted": 1, "reasons": [HOSTILE], "note": HOSTILE}
            entry = {"time": HOSTILE, "trigger": HOSTILE, "added": [HOSTILE], "addedCount": 1}
            body |= {"source": "fresh", "story": [entry]}
            return httpx.Response(200, json=body)
        if request.url.params.get("watch"):
            obj = {"metadata": {"name": "s", "resourceVersion": "2"}, "status": {}}
            event = {"type": "ERROR", "object": {**obj, "message": HOSTILE}}
            return httpx.Response(200, text=json.dumps(event) + "\n")
        if request.url.path.endswith("/sites"):
            meta = {"resourceVersion": "1"}
            return httpx.Response(200, json={"items": [], "metadata": meta})
        return httpx.Response(404, json={"reason": "NotFound", "message": HOSTILE})

    run = mock_cli(hub)
    for args in (("explain", "web"), ("describe", "site", "s"), ("get", "sites", "-w")):
        result = run(*args)
        assert not RAW.search(result.stdout + result.stderr), (args, result.stdout, result.stderr)
        assert "\\x1b]52;c;aGk=\\x07\\r\\nforged" in result.stdout + result.stderr, args
