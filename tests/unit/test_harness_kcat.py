"""kcat: JSON envelope parsing (from real captured output) and failure reporting."""

from __future__ import annotations

import shutil
import stat
import time
from pathlib import Path

import pytest

from harness import kcat
from harness.errors import HarnessError, KcatError, KcatNotFoundError, KcatTimeoutError

# Captured from `kcat -b localhost:39092 -C -J -e -o beginning -t kc-sample` (kcat 1.7.1)
# after producing: a non-UTF-8, non-JSON value; a tombstone; and the seed message with
# binary, empty, null and duplicate headers.
CAPTURED = (
    b'{"topic":"kc-sample","partition":0,"offset":0,"tstype":"create","ts":1795765633541,'
    b'"broker":1,"key":null,"payload":"\xff\xfenot json\\n\\u0001"}\n'
    b'{"topic":"kc-sample","partition":1,"offset":0,"tstype":"create","ts":1795765633541,'
    b'"broker":1,"key":"tomb","payload":null}\n'
    b'{"topic":"kc-sample","partition":2,"offset":0,"tstype":"create","ts":1795765633541,'
    b'"broker":1,"headers":["trace","\\u0000\xff\\n\\"x","empty","","nul",null,"trace",'
    b'"\xc3\xbc"],"key":"user-1","payload":"{\\"user_id\\": 1, \\"action\\": \\"login\\"}"}\n'
)

# Captured from `kcat -b localhost:39092 -L -J -t kc-sample`.
CAPTURED_METADATA = (
    '{"originating_broker":{"id":1,"name":"localhost:39092/1"},"query":{"topic":"kc-sample"},'
    '"controllerid":1,"brokers":[{"id":1,"name":"localhost:39092"}],"topics":[{"topic":'
    '"kc-sample","partitions":[{"partition":2,"leader":1,"replicas":[{"id":1}],"isrs":'
    '[{"id":1}]},{"partition":0,"leader":1,"replicas":[{"id":1}],"isrs":[{"id":1}]},'
    '{"partition":1,"leader":-1,"error":"Broker: Leader not available","replicas":[{"id":1}],'
    '"isrs":[]}]}]}'
)


def test_seed_message_envelope_is_parsed_with_key_payload_and_timestamp() -> None:
    record = kcat.parse_envelopes(CAPTURED)[2]
    assert (record.topic, record.partition, record.offset) == ("kc-sample", 2, 0)
    assert record.key == b"user-1" and record.key_text == "user-1"
    assert record.payload == b'{"user_id": 1, "action": "login"}'
    assert record.json() == {"user_id": 1, "action": "login"}
    assert record.timestamp_ms == 1_795_765_633_541
    assert record.timestamp_type == "create"
    assert record.broker == 1


def test_headers_come_back_as_exact_bytes_in_order_with_nulls_and_duplicates() -> None:
    record = kcat.parse_envelopes(CAPTURED)[2]
    assert record.headers == (
        ("trace", b'\x00\xff\n"x'),
        ("empty", b""),
        ("nul", None),
        ("trace", "ü".encode()),
    )
    assert record.header("trace") == "ü".encode()  # the last one wins
    with pytest.raises(KeyError):
        record.header("absent")


def test_non_utf8_payload_and_null_key_survive_byte_for_byte() -> None:
    record = kcat.parse_envelope(CAPTURED.splitlines()[0])
    assert record.key is None
    assert record.payload == b"\xff\xfenot json\n\x01"
    assert record.headers == ()
    with pytest.raises(ValueError):
        record.json()


def test_tombstone_has_a_null_payload() -> None:
    record = kcat.parse_envelope(CAPTURED.splitlines()[1])
    assert record.payload is None and record.payload_text is None
    assert record.key == b"tomb"


def test_header_map_form_of_older_kcat_is_accepted() -> None:
    line = (
        '{"topic":"t","partition":0,"offset":5,"headers":{"a":["1","2"]},"key":null,"payload":"x"}'
    )
    assert kcat.parse_envelope(line).headers == (("a", b"1"), ("a", b"2"))


def test_deserialization_errors_in_the_envelope_are_not_silently_accepted() -> None:
    line = '{"topic":"t","partition":0,"offset":1,"key":null,"payload":null,"payload_error":"bad"}'
    with pytest.raises(ValueError, match="bad"):
        kcat.parse_envelope(line)


def test_metadata_is_parsed_with_sorted_partitions_and_errors() -> None:
    metadata = kcat.parse_metadata(CAPTURED_METADATA)
    assert metadata.brokers == {1: "localhost:39092"}
    assert metadata.controller_id == 1
    topic = metadata.topics["kc-sample"]
    assert topic.partition_count == 3
    assert [p.partition for p in topic.partitions] == [0, 1, 2]
    assert topic.partitions[1].error == "Broker: Leader not available"
    assert topic.partitions[1].leader == -1 and topic.partitions[1].isrs == ()
    assert topic.partitions[0].replicas == (1,)


def test_missing_kcat_raises_not_found_with_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KcatNotFoundError) as info:
        kcat.consume("localhost:9092", "user-events", timeout_s=5)
    assert isinstance(info.value, HarnessError)
    assert "kcat not found" in str(info.value)
    assert "Hint: install kcat: apt-get install kcat" in str(info.value)


def _fake_kcat(directory: Path, body: str) -> Path:
    script = directory / "kcat"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_arguments_are_passed_as_a_list_never_through_a_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args_file = tmp_path / "args"
    _fake_kcat(tmp_path, f'for a in "$@"; do echo "$a"; done > {args_file}\n')
    monkeypatch.setenv("PATH", str(tmp_path))
    topic = "user-events; rm -rf / $(reboot)"
    assert kcat.consume("localhost:9092", topic, count=3, timeout_s=5) == []
    flag, _config_path, *args = args_file.read_text().splitlines()
    assert flag == "-F"
    assert args == [
        "-b", "localhost:9092", "-C", "-J", "-e", "-o", "beginning", "-t", topic, "-c", "3",
    ]  # fmt: skip


def test_client_properties_reach_kcat_in_a_private_file_not_on_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "seen"
    # The fake kcat records its arguments, the config file's mode and its content.
    stat_tool, cat = shutil.which("stat"), shutil.which("cat")
    _fake_kcat(
        tmp_path,
        f'echo "$@" > {seen}.args; {stat_tool} -c %a "$2" > {seen}.mode; {cat} "$2" > {seen}.conf\n'
        'echo \'{"brokers":[],"topics":[]}\'\n',
    )
    monkeypatch.setenv("PATH", str(tmp_path))
    config = {"security.protocol": "SASL_SSL", "sasl.password": "s3cret=with:colon"}
    kcat.list_metadata("localhost:9092", config=config, timeout_s=5)
    args = (tmp_path / "seen.args").read_text().split()
    assert args[0] == "-F" and "s3cret" not in " ".join(args) and "-X" not in args
    assert (tmp_path / "seen.mode").read_text().strip() == "600"
    assert (tmp_path / "seen.conf").read_text() == (
        "security.protocol=SASL_SSL\nsasl.password=s3cret=with:colon\n"
    )
    assert not Path(args[1]).exists(), "the config file is removed after the run"


def test_a_failure_names_the_config_properties_but_never_their_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_kcat(tmp_path, "echo '% ERROR: Local: Authentication failure' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KcatError) as info:
        kcat.list_metadata("localhost:9092", config={"sasl.password": "s3cret"}, timeout_s=5)
    assert "<sasl.password>" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_non_zero_exit_carries_command_exit_code_and_stderr_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = "".join(f"echo 'noise {n}' >&2\n" for n in range(40))
    _fake_kcat(tmp_path, lines + "echo '% ERROR: Topic nope error: Unknown topic' >&2\nexit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KcatError) as info:
        kcat.consume("localhost:9092", "nope", timeout_s=5)
    error = info.value
    assert error.exit_code == 1
    assert error.command[1:3] == ["-F", "<no properties>"]
    assert error.command[3:] == [
        "-b",
        "localhost:9092",
        "-C",
        "-J",
        "-e",
        "-o",
        "beginning",
        "-t",
        "nope",
    ]
    assert error.stderr_tail.splitlines()[-1] == "% ERROR: Topic nope error: Unknown topic"
    assert "noise 0" not in error.stderr_tail  # only the tail
    assert "exit code: 1" in str(error)


def test_a_hanging_kcat_is_killed_after_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_kcat(tmp_path, f"exec {shutil.which('sleep')} 30\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    started = time.monotonic()
    with pytest.raises(KcatTimeoutError) as info:
        kcat.list_metadata("localhost:9092", timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert info.value.exit_code is None
    assert "killed (timeout)" in str(info.value)


def test_unparseable_output_is_a_kcat_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_kcat(tmp_path, "echo 'this is not json'\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KcatError, match="not JSON envelopes"):
        kcat.consume("localhost:9092", "t", timeout_s=5)


def test_kafkarig_kcat_names_the_kcat_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    script = _fake_kcat(other, "exit 0\n")
    monkeypatch.setenv("KAFKARIG_KCAT", str(script))
    assert kcat.find_kcat() == str(script)
    monkeypatch.setenv("KAFKARIG_KCAT", str(tmp_path / "absent"))
    with pytest.raises(KcatNotFoundError, match="absent"):
        kcat.find_kcat()


def _fake_old_kcat(directory: Path, librdkafka: str) -> Path:
    version = (
        f"Version 1.7.1 (JSON, Transactions, IncrementalAssign, librdkafka {librdkafka} "
        "builtin.features=gzip,snappy,ssl,sasl,sasl_scram)"
    )
    return _fake_kcat(
        directory,
        f'if [ "$1" = -V ]; then echo "{version}"; exit 0; fi\n'
        "echo '%3|1|FAIL|rdkafka#producer-1| SASL authentication error: Authentication failed "
        "during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512' >&2\n"
        "exit 1\n",
    )


@pytest.mark.parametrize(("librdkafka", "explained"), [("2.0.2", True), ("2.6.1", False)])
def test_a_scram_login_refused_to_an_old_librdkafka_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, librdkafka: str, explained: bool
) -> None:
    directory = tmp_path / librdkafka
    directory.mkdir()
    script = _fake_old_kcat(directory, librdkafka)
    assert kcat.librdkafka_version(str(script)) == tuple(map(int, librdkafka.split(".")))
    config = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512"}
    with pytest.raises(KcatError) as info:
        kcat.list_metadata("localhost:9092", config=config, kcat=str(script), timeout_s=5)
    hint = info.value.hint or ""
    assert ("librdkafka issue #4895" in hint) is explained
    assert ("KAFKARIG_KCAT" in hint) is explained
