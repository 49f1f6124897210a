"""The parser's own failures: a missing, wrong or mistyped command is one clear line, not a
traceback file (Typer carries its own copy of click's exceptions)."""

from __future__ import annotations

import sys

import pytest

from api.cli import main


def run(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["onemap", *args])
    with pytest.raises(SystemExit) as stop:
        main()
    out = capsys.readouterr()
    return stop.value.code, out.out, out.err


@pytest.mark.parametrize("args, says", [
    (["nosuch"], "No such command 'nosuch'."),
    (["hotspots", "gi", "--res", "abc"], "Invalid value for '--res'"),
    (["load"], "Missing argument 'layer'."),
    (["export", "incidents", "x.geojson", "--no-such-flag"], "No such option"),
])
def test_a_usage_error_is_one_line(args, says, capsys, monkeypatch):
    code, _, err = run(args, capsys, monkeypatch)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("onemap: error: ") and says in lines[0], err
    assert "unexpected" not in err and "traceback" not in err


@pytest.mark.parametrize("args", [[], ["hotspots"], ["grids"]])
def test_a_group_without_its_command_shows_its_help(args, capsys, monkeypatch):
    code, out, err = run(args, capsys, monkeypatch)
    assert code == 2
    assert "Usage:" in out + err and "Commands" in out + err
    assert "unexpected" not in err
