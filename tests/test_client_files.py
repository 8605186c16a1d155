"""The files a client keeps beside its credentials: written whole, readable by their user only,
even when two commands write one at once (two `runway login`s in two terminals)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from runway.client.credentials import write_private


def test_files_written_at_once_by_several_commands_stay_whole_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNWAY_CONFIG_DIR", str(tmp_path))
    errors: list[BaseException] = []

    def writes(who: int) -> None:
        try:
            for turn in range(200):
                write_private("devices.json", {"who": who, "turn": turn, "pad": "x" * 5000})
        except BaseException as error:  # any failure is what the test looks for
            errors.append(error)

    threads = [threading.Thread(target=writes, args=(who,)) for who in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    written = tmp_path / "devices.json"
    assert json.loads(written.read_text())["turn"] == 199
    assert written.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["devices.json"]  # no temporary left
