"""Malformed event files and ACLED-style exports.

Each bad input ends in one line that names the file, the line (row) or key, and what is allowed: an
EventDataError from the loaders, and exit code 2 without a traceback from the commands. Absurd sizes get a
clear error, not a MemoryError or a hang.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from escalation import events
from escalation.acled import default_mapping_path, import_acled, load_mapping
from escalation.cli import _config_hash
from escalation.events import (
    COLUMNS,
    MAX_COUNT,
    EventDataError,
    builtin_events_path,
    load_events,
)

HEADER = ",".join(COLUMNS)
GOOD = {
    "event_id": "a1",
    "start_date": "2023-10-17",
    "end_date": "2023-10-17",
    "attacker": "militias",
    "target": "us",
    "kind": "attack",
    "count": "1",
    "source": "test fixture",
}


def row(event_id: str = "a1", **cells: str) -> str:
    """One event row as CSV text (cells are written as given: quote them yourself)."""
    values = {**GOOD, "event_id": event_id, **cells}
    return ",".join(values.get(column, "") for column in COLUMNS)


def event_file(*rows: str, preamble: str = "", end: str = "\n") -> str:
    """A header and rows: without a preamble the header is line 1 and the n-th row is line n + 1."""
    return preamble + "\n".join([HEADER, *rows]) + end


def load_error(path, **kwargs) -> EventDataError:
    with pytest.raises(EventDataError) as info:
        load_events(path, **kwargs)
    return info.value


def assert_one_line(err: EventDataError, path, expected: str) -> str:
    message = str(err)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{path}: ")
    assert expected in message, message
    return message


# --- cells, rows and quotes ---------------------------------------------------------------------------------

FORTY_NINES = "9" * 40
BAD_FILES = [
    # (id, file text, expected in the one-line message)
    (
        "injured-40-digits",
        event_file(row(), row("b", injured=FORTY_NINES)),
        f"line 3: injured: {FORTY_NINES} is above the maximum 1000000000 (allowed: a whole number from 0 to",
    ),
    (
        "killed-10^12",
        event_file(row(), row("b", killed="1000000000000")),
        "line 3: killed: 1000000000000 is above the maximum 1000000000",
    ),
    (
        "count-10^12",
        event_file(row(), row("b", count="1000000000000")),
        "line 3: count: 1000000000000 is above the maximum 1000000000 (allowed: a whole number from 0 to",
    ),
    (
        "count-5000-digits",  # longer than int() converts: the value is cut short in the message
        event_file(row(), row("b", count="7" * 5000)),
        f"line 3: count: {'7' * 39}… is above the maximum 1000000000",
    ),
    (
        "start-0001",
        event_file(row(), row("b", start_date="0001-01-01")),
        "line 3: start_date: 0001-01-01 is outside the allowed range 1900-01-01 to 2100-12-31",
    ),
    (
        "start-1899",
        event_file(row(), row("b", start_date="1899-12-31")),
        "line 3: start_date: 1899-12-31 is outside the allowed range 1900-01-01 to 2100-12-31",
    ),
    (
        "end-2101",
        event_file(row(), row("b", end_date="2101-01-01")),
        "line 3: end_date: 2101-01-01 is outside the allowed range 1900-01-01 to 2100-12-31",
    ),
    (
        "period-0001",
        event_file(row(), preamble="# period: 0001-01-01 to 2023-10-26\n"),
        "line 1: period: 0001-01-01 to 2023-10-26 is outside the allowed range 1900-01-01 to 2100-12-31",
    ),
    (
        "period-9999",
        event_file(row(), preamble="# period: 2023-10-07 to 9999-12-31\n"),
        "line 1: period: 2023-10-07 to 9999-12-31 is outside the allowed range 1900-01-01 to 2100-12-31",
    ),
    (
        "period-line-of-5000-characters",  # quoted cut short
        event_file(row(), preamble="# period " + "x" * 5000 + "\n"),
        "line 1: period: '# period xxxxxxxx",
    ),
    (
        "february-30",
        event_file(row(), row("b", start_date="2023-02-30")),
        "line 3: start_date: 2023-02-30 is not a day of the calendar (allowed: a real date, YYYY-MM-DD)",
    ),
    (
        "unterminated-quote-swallows-the-rest",
        event_file(row(), row("b", notes='"He said so'), *(row(f"r{n}") for n in range(5))),
        "line 3: row: unterminated quote: a cell opens with a double quote here and never closes, so it "
        "takes in the rest of the file (lines 3 to 8) as one cell",
    ),
    (
        "unterminated-quote-opens-on-the-records-second-line",
        event_file(row(), row("b", location='"two\nlines"', notes='"oops'), row("c")),
        "line 4: row: unterminated quote",
    ),
    (
        "unterminated-quote-on-the-last-line-without-a-line-break",
        event_file(row(), row("b", notes='"oops'), end=""),
        "line 3: row: unterminated quote: a cell opens with a double quote here and never closes before the "
        "end of the file",
    ),
    (
        "unterminated-quote-past-the-csv-field-limit",
        event_file(row(), row("b", notes='"oops'), *(row(f"r{n}") for n in range(3000))),
        "line 3: row: unterminated quote: a cell opens with a double quote here and does not close within "
        "the CSV limit of 131,072 characters",
    ),
    (
        "unterminated-quote-closed-by-a-later-rows-quote",
        event_file(row(), row("b", notes='"He said so'), row("c"), row("d", source='"News, 27 Oct"')),
        "line 3: row: unterminated quote: a cell opens with a double quote here and runs on to line 5, where "
        "a quote closes it and more text follows",
    ),
    (
        "text-after-a-closing-quote",  # a stray quote that a later one closes: cells would shift silently
        event_file(row(), row("b", location='"Iraq and Syria', source='"News, 27 Oct"'), row("c")),
        "line 3: row: text follows the closing quote of a quoted cell (allowed after it: a comma or the end",
    ),
    (
        "unquoted-cell-past-the-csv-field-limit",
        event_file(row(), row("b", notes="x" * 200_000)),
        "line 3: row: a cell is longer than 131,072 characters, the CSV limit for a cell",
    ),
    (
        "nul-byte",
        event_file(row(), row("b", notes="a\x00b")),
        "line 3: file: contains a NUL byte, which a text file does not (allowed: UTF-8 CSV text",
    ),
    (
        "bom-inside-the-header",
        event_file(row()).replace(",start_date,", ",\ufeffstart_date,", 1),
        "line 1: header: unknown columns '\\ufeffstart_date' (allowed: event_id,",
    ),
    ("empty-file", "", "file: empty (expected a header row naming the columns, then event rows)"),
    ("only-comments", "# a comment\n\n# another\n", "file: empty (expected a header row"),
    ("blank-lines-only", "\n \r\n\n", "file: empty (expected a header row"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_file_ends_in_one_line_naming_file_line_and_what_is_allowed(tmp_path, text, expected):
    path = tmp_path / "events.csv"
    path.write_bytes(text.encode("utf-8"))
    err = load_error(path)
    message = assert_one_line(err, path, expected)
    assert len(message) < 600


def test_counts_and_casualties_at_the_maximum_load(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        event_file(row(count=str(MAX_COUNT), injured=str(MAX_COUNT), killed="0" + str(MAX_COUNT)))
    )
    (event,) = load_events(path)
    assert (event.count, event.injured, event.killed) == (MAX_COUNT, MAX_COUNT, MAX_COUNT)


@pytest.mark.parametrize(
    "text",
    [
        event_file(row(), row("b")).replace("\n", "\r\n"),  # CRLF line endings
        "\ufeff" + event_file(row(), row("b")).replace("event_id,start_date", "  event_id , start_date "),
        event_file(row(), row("b", notes='"a ""quoted"" word, and a\r\nline break"')),
        event_file(row(), row("b", kind="strike", start_date="1900-01-01", end_date="2100-12-31")),
    ],
    ids=["crlf", "bom-and-spaces-in-the-header", "quoted-quotes-and-line-breaks", "first-and-last-days"],
)
def test_awkward_but_valid_files_load(tmp_path, text):
    path = tmp_path / "events.csv"
    path.write_bytes(text.encode("utf-8"))
    assert [event.event_id for event in load_events(path)] == ["a1", "b"]


def test_a_hundred_thousand_bad_rows_give_a_short_line_naming_the_first_ten(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(event_file(*(row(f"r{n}", start_date="2023-10-0x") for n in range(100_000))))
    err = load_error(path)
    message = assert_one_line(err, path, "100,000 problems: line 2: start_date: '2023-10-0x' is not a date")
    assert message.endswith("; line 11: start_date: '2023-10-0x' is not a date in YYYY-MM-DD form; "
                            "... and 99,990 more problems")  # fmt: skip
    assert len(message) < 2_000
    assert len(err.problems) == 100_000  # all of them, for a caller that wants them
    assert err.problems[-1].startswith("line 100001: start_date:")


def test_a_long_cell_is_quoted_cut_short(tmp_path):
    long_id = "x" * 100_000  # under the csv module's cell limit
    path = tmp_path / "events.csv"
    path.write_text(event_file(row(long_id), row(long_id, kind="raid" * 1000)))
    message = assert_one_line(load_error(path), path, "line 3: event_id: 'xxxxxxxx")
    assert "…" in message and "line 3: kind: unknown kind 'raidraid" in message
    assert len(message) < 1_000


# --- files that are not event files -------------------------------------------------------------------------

SECRET = "root:x:0:0:secret-token-0123456789:/root:/bin/bash"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (f"{SECRET}\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n", "line 1: header: names none of the"),
        (f"{SECRET},{SECRET}\nx,y\n", "line 1: header: names none of the event-file columns"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "line 1: file: not valid UTF-8 text (byte 0)"),
        (
            "event_id,start_date\n".encode("utf-16"),
            "line 1: file: not valid UTF-8 text (byte 0); save it as UTF-8",
        ),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "line 1: file: contains a NUL byte"),
    ],
    ids=["passwd", "one-line-of-two-cells", "png", "utf-16", "gif"],
)
def test_a_non_event_file_is_named_as_such_without_quoting_it(tmp_path, content, expected):
    path = tmp_path / "not_events.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    message = assert_one_line(load_error(path), path, expected)
    quoted = message[len(str(path)) :]
    assert "secret" not in quoted and "root" not in quoted and "PNG" not in quoted
    if "header" in expected:
        assert "must name the columns, at least event_id, start_date, end_date" in message


def test_unknown_column_names_are_cut_short(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(event_file(row()).replace("notes", "notes," + "y" * 300 + ",zzz", 1))
    message = assert_one_line(load_error(path), path, "line 1: header: unknown columns yyyyyyyy")
    assert "y" * 100 not in message and "…" in message
    assert "(allowed: event_id, start_date," in message


def test_dev_null_is_refused_by_its_kind():
    err = load_error("/dev/null")
    assert str(err) == (
        "/dev/null: 1 problem: file: is a character device, not an event file (allowed: a regular file or "
        "a pipe)"
    )


def limited_child(script: str, cwd: Path, gigabytes: int = 2) -> subprocess.CompletedProcess:
    """Run ``script`` in a Python child with little address space and a timeout.

    Endless devices are tried only there: code that read /dev/zero whole would end in a MemoryError (a
    traceback, a failed test) there instead of exhausting the machine running the tests.
    """
    limit = (
        f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({gigabytes << 30}, {gigabytes << 30}))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", limit + textwrap.dedent(script)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            """
            from escalation.events import EventDataError, load_events
            for device in ("/dev/zero", "/dev/urandom"):
                try:
                    load_events(device)
                except EventDataError as err:
                    print(err)
            """,
            "/dev/zero: 1 problem: file: is a character device, not an event file (allowed: a regular file "
            "or a pipe)\n/dev/urandom: 1 problem: file: is a character device, not an event file",
        ),
        (
            """
            from escalation.acled import default_mapping_path, import_acled, load_mapping
            from escalation.events import EventDataError
            try:
                import_acled("/dev/zero", load_mapping(default_mapping_path()))
            except EventDataError as err:
                print(err)
            """,
            "/dev/zero: 1 problem: file: is a character device, not an ACLED-style export (allowed: a "
            "regular file or a pipe)",
        ),
        (
            """
            from omegaconf import OmegaConf
            from escalation.cli import _config_hash
            print(len(_config_hash(OmegaConf.create({"data": {"path": "/dev/zero"}}))))
            """,
            "64",
        ),
    ],
    ids=["load_events", "import_acled", "config_hash"],
)
def test_dev_zero_is_refused_quickly_with_little_memory(tmp_path, script, expected):
    done = limited_child(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(expected)


def test_a_folder_and_a_socket_are_refused(tmp_path):
    err = load_error(tmp_path)
    assert (
        str(err)
        == f"{tmp_path}: 1 problem: file: is a folder, not an event file (allowed: a regular file or a pipe)"
    )
    path = tmp_path / "s.csv"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        assert_one_line(load_error(path), path, "file: is a socket, not an event file")


def test_a_file_above_the_size_limit_is_refused_naming_its_size(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.truncate(events.MAX_FILE_BYTES + 1)  # sparse: nothing is written
    err = load_error(path)
    assert str(err) == (
        f"{path}: 1 problem: file: is 200,000,001 bytes, more than the limit of 200,000,000 bytes (200 MB) "
        "for an event file"
    )


def pipe_path(data: bytes) -> tuple[str, int]:
    """A pipe holding ``data`` (then closed), as a path like bash's ``<(...)``; returns (path, read end)."""
    read, write = os.pipe()
    with os.fdopen(write, "wb") as handle:
        handle.write(data)
    return f"/dev/fd/{read}", read


def test_an_event_file_given_as_a_pipe_loads_with_the_hash_of_its_bytes():
    data = builtin_events_path().read_bytes()
    path, read = pipe_path(data)
    try:
        log = load_events(path)
    finally:
        os.close(read)
    assert len(log) == 7
    assert log.data_hash == hashlib.sha256(data).hexdigest()


def test_a_named_fifo_loads(tmp_path):
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(
        target=fifo.write_bytes, args=(builtin_events_path().read_bytes(),), daemon=True
    )
    writer.start()
    try:
        assert len(load_events(fifo)) == 7
    finally:
        writer.join(timeout=10)


def test_an_endless_pipe_is_read_no_further_than_the_limit(tmp_path):
    script = """
        import os, threading
        from escalation import events
        events.MAX_FILE_BYTES = 1_000_000
        os.mkfifo("endless.fifo")

        def endless():
            try:
                with open("endless.fifo", "wb") as handle:
                    while True:
                        handle.write(b"x" * 65536)
            except BrokenPipeError:
                pass  # the reader stopped, as it should

        threading.Thread(target=endless, daemon=True).start()
        try:
            events.load_events("endless.fifo")
        except events.EventDataError as err:
            print(err)
        """
    done = limited_child(script, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "endless.fifo: 1 problem: file: holds more than the limit of 1,000,000 bytes (1 MB) for an event "
        "file\n"
    )


# --- the resume hash never reads what the loader must read --------------------------------------------------


def test_config_hash_leaves_a_pipe_to_the_loader():
    data = builtin_events_path().read_bytes()
    path, read = pipe_path(data)
    try:
        _config_hash(OmegaConf.create({"data": {"path": path}}))
        assert len(load_events(path)) == 7  # the pipe still holds every byte
    finally:
        os.close(read)


def test_config_hash_of_a_pipe_is_never_reused_and_of_a_file_follows_its_bytes(tmp_path):
    # A pipe's bytes are unknown until the run reads them: its resume hash must never match a finished run.
    path, read = pipe_path(b"x")
    try:
        pipe = OmegaConf.create({"data": {"path": path}})
        assert _config_hash(pipe) != _config_hash(pipe)
    finally:
        os.close(read)
    file = tmp_path / "events.csv"
    file.write_bytes(builtin_events_path().read_bytes())
    cfg = OmegaConf.create({"data": {"path": str(file)}})
    assert _config_hash(cfg) == _config_hash(cfg)
    before = _config_hash(cfg)
    file.write_bytes(file.read_bytes() + b"\n")
    assert _config_hash(cfg) != before


@pytest.mark.parametrize("path", ["/dev/null", "/", "no/such/file.csv"])
def test_config_hash_reads_no_device_or_folder(path):
    assert len(_config_hash(OmegaConf.create({"data": {"path": path}}))) == 64


# --- ACLED-style exports ------------------------------------------------------------------------------------

ACLED_HEADER = (
    "event_id_cnty,event_date,event_type,sub_event_type,actor1,actor2,"
    "inter1,inter2,country,location,fatalities,notes"
)
US = "Military Forces of the United States (2021-)"


def acled_row(
    event_id="IRQ1", when="2023-10-18", actor1="Islamic Resistance in Iraq", fatalities="0", notes=""
):
    return (
        f'{event_id},{when},Explosions/Remote violence,Air/drone strike,"{actor1}","{US}",3,8,Iraq,Erbil,'
        f"{fatalities},{notes}"
    )


@pytest.fixture(scope="module")
def mapping():
    return load_mapping(default_mapping_path())


BAD_EXPORTS = [
    (
        "title-line-above-the-header",
        f"ACLED data export, generated 2024-01-05\n\n{ACLED_HEADER}\n{acled_row()}\n",
        "line 1: not the export's header: the first line must be the header row, naming at least the columns "
        "event_date, sub_event_type, actor1, actor2, fatalities, but it names none of them; the header seems "
        "to be on line 3 (delete the lines above it)",
    ),
    (
        "no-header-at-all",
        f"{acled_row()}\n{acled_row('IRQ2')}\n",
        "line 1: not the export's header: the first line must be the header row, naming at least the columns "
        "event_date, sub_event_type, actor1, actor2, fatalities, but it names none of them (is this an "
        "ACLED-style export?)",
    ),
    ("passwd", f"{SECRET}\n", "line 1: not the export's header"),
    (
        "unterminated-quote-closed-by-a-later-rows-quote",
        f"{ACLED_HEADER}\n{acled_row()}\n{acled_row('IRQ2', notes=chr(34) + 'oops')}\n{acled_row('IRQ3')}\n",
        "line 3: row: unterminated quote: a cell opens with a double quote here and runs on to line 4, "
        "where a quote closes it and more text follows",
    ),
    (
        "unterminated-quote-in-the-last-row",
        f"{ACLED_HEADER}\n{acled_row()}\n{acled_row('IRQ2', notes=chr(34) + 'oops')}\n\n",
        "line 3: row: unterminated quote: a cell opens with a double quote here and never closes, so it "
        "takes in the rest of the file (lines 3 to 4) as one cell",
    ),
    (
        "text-after-a-closing-quote",
        f"{ACLED_HEADER}\n{acled_row(notes=chr(34) + 'Drones' + chr(34) + ' at dawn')}\n",
        "line 2: row: text follows the closing quote of a quoted cell",
    ),
    ("nul-byte", f"{ACLED_HEADER}\n{acled_row(notes='a' + chr(0))}\n", "line 2: file: contains a NUL byte"),
    ("empty", "", "file: empty"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in BAD_EXPORTS], ids=[c[0] for c in BAD_EXPORTS])
def test_bad_export_ends_in_one_line(tmp_path, mapping, text, expected):
    path = tmp_path / "acled.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EventDataError) as info:
        import_acled(path, mapping)
    message = assert_one_line(info.value, path, expected)
    assert "secret" not in message


def test_export_with_a_hundred_thousand_faults_gives_a_short_line(tmp_path, mapping):
    path = tmp_path / "acled.csv"
    path.write_text("\n".join([ACLED_HEADER, *[acled_row("IRQ1")] * 100_001]) + "\n", encoding="utf-8")
    with pytest.raises(EventDataError) as info:
        import_acled(path, mapping)
    message = assert_one_line(
        info.value, path, "100,000 problems: line 3: event_id_cnty 'IRQ1' is already used"
    )
    assert message.endswith("... and 99,990 more problems")
    assert len(message) < 2_000 and len(info.value.problems) == 100_000


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        (
            {"fatalities": FORTY_NINES},
            f"line 2: fatalities {FORTY_NINES} is above the maximum 1000000000 (allowed: a whole number",
        ),
        ({"when": "0001-01-01"}, "line 2: event_date 0001-01-01 is outside the allowed range 1900-01-01 to"),
        ({"when": "31/12/2101"}, "line 2: event_date 2101-12-31 is outside the allowed range"),
        ({"actor1": "X" * 100_000}, "line 2: no actor pattern matches 'XXXXXXXX"),
    ],
    ids=["fatalities-40-digits", "year-1", "year-2101", "a-100000-character-actor"],
)
def test_absurd_export_rows_are_left_out_with_a_short_reason(tmp_path, mapping, cells, reason):
    path = tmp_path / "acled.csv"
    path.write_text(f"{ACLED_HEADER}\n{acled_row(**cells)}\n{acled_row('IRQ2')}\n", encoding="utf-8")
    result = import_acled(path, mapping)
    assert len(result.events) == 1
    (left_out,) = result.unmapped
    assert left_out.startswith(reason)
    assert len(left_out) < 300


@pytest.mark.parametrize("path", ["/dev/null", "/tmp"])
def test_export_that_is_not_a_file_is_refused(mapping, path):
    with pytest.raises(
        EventDataError, match=r"file: is a (character device|folder), not an ACLED-style export"
    ):
        import_acled(path, mapping)


def test_export_given_as_a_pipe_imports(tmp_path, mapping):
    data = f"{ACLED_HEADER}\n{acled_row()}\n".encode()
    path, read = pipe_path(data)
    try:
        result = import_acled(path, mapping)
    finally:
        os.close(read)
    assert len(result.events) == 1
    assert result.events.data_hash == hashlib.sha256(data).hexdigest()


def test_import_command_with_dev_zero_exits_2_with_one_line(tmp_path):
    output = tmp_path / "events.csv"
    done = limited_child(
        f"from escalation.acled import main; main(['/dev/zero', '--output', {str(output)!r}])", tmp_path
    )
    assert done.returncode == 2
    assert done.stderr == (
        "escalation-import: error: /dev/zero: 1 problem: file: is a character device, not an ACLED-style "
        "export (allowed: a regular file or a pipe)\n"
    )
    assert not output.exists()


def test_import_command_reads_a_piped_export(tmp_path):
    export = tmp_path / "acled.csv"
    export.write_text(f"{ACLED_HEADER}\n{acled_row()}\n", encoding="utf-8")
    command = (
        f"{shlex.quote(sys.executable)} -c 'from escalation.acled import main; main()' "
        f"<(cat {shlex.quote(str(export))}) --output events.csv"
    )
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "wrote 1 events to events.csv (0 rows left out)\n"
    assert len(load_events(tmp_path / "events.csv")) == 1


# --- the escalation command ---------------------------------------------------------------------------------

TINY = [
    "ensemble.replications=60",
    "ensemble.chunk_size=30",
    "ensemble.progress=false",
    "calibration.draws=500",
    "experiment.figures=false",
]


def escalation_shell(cwd: Path, data: str) -> subprocess.CompletedProcess:
    """Run ``escalation data.path=<data>`` through bash, so that ``data`` may be ``<(cat FILE)``."""
    command = f"{shlex.quote(sys.executable)} -m escalation data.path={data} {' '.join(TINY)}"
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=180)


def assert_usage_error(done: subprocess.CompletedProcess, expected: str) -> str:
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("escalation: error: ") and expected in lines[0]
    assert "Traceback" not in done.stderr
    return lines[0]


def failed_manifests(cwd: Path) -> list[dict]:
    manifests = [json.loads(path.read_text()) for path in (cwd / "results").rglob("manifest.json")]
    assert all(manifest["status"] == "failed" for manifest in manifests)
    assert not list((cwd / "results").rglob("summary.json"))
    return manifests


def test_command_reads_a_piped_event_file_once(tmp_path):
    # Read twice (the resume hash, then the loader), the pipe looked empty; read once, its bad row is found.
    bad = tmp_path / "bad.csv"
    bad.write_text(event_file(row(), row("b", injured=FORTY_NINES)))
    done = escalation_shell(tmp_path, f"<(cat {shlex.quote(str(bad))})")
    line = assert_usage_error(done, f"line 3: injured: {FORTY_NINES} is above the maximum 1000000000")
    assert line.startswith("escalation: error: /dev/fd/")
    failed_manifests(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            event_file(row(), row("b", injured=FORTY_NINES)),
            f"events.csv: 1 problem: line 3: injured: {FORTY_NINES} is above the maximum 1000000000",
        ),
        (
            event_file(row(), row("b", start_date="0001-01-01")),
            "events.csv: 1 problem: line 3: start_date: 0001-01-01 is outside the allowed range 1900-01-01",
        ),
        (
            f"{SECRET}\n{SECRET}\n",
            "events.csv: 1 problem: line 1: header: names none of the event-file columns",
        ),
    ],
    ids=["injured-40-digits", "start-0001", "passwd-like"],
)
def test_command_with_a_bad_event_file_exits_2_with_one_line(tmp_path, text, expected):
    path = tmp_path / "events.csv"
    path.write_text(text)
    done = escalation_shell(tmp_path, shlex.quote(str(path)))
    assert_usage_error(done, expected)
    for manifest in failed_manifests(tmp_path):
        assert expected in manifest["error"]
        assert "secret" not in json.dumps(manifest)
    assert "secret" not in done.stderr


def test_command_refuses_dev_zero_quickly_with_little_memory(tmp_path):
    script = f"""
        import sys
        sys.argv = ["escalation", "data.path=/dev/zero", *{TINY!r}]
        from escalation.cli import main
        main()
        """
    done = limited_child(script, tmp_path, gigabytes=4)
    assert_usage_error(done, "/dev/zero: 1 problem: file: is a character device, not an event file")


@pytest.mark.slow
def test_command_runs_on_a_piped_event_file_and_records_its_hash(tmp_path):
    builtin = builtin_events_path()
    done = escalation_shell(tmp_path, f"<(cat {shlex.quote(str(builtin))})")
    assert done.returncode == 0, done.stderr
    (manifest_path,) = (tmp_path / "results").rglob("manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["status"] == "ok"
    assert manifest["data_path"].startswith("/dev/fd/")
    assert manifest["data_hash"] == hashlib.sha256(builtin.read_bytes()).hexdigest()
