"""The quick start's broker: concurrent producers and a consumer on real folders.

Producers are separate processes (``python -c PRODUCER``) sending through kombu, as the web
server and beat do; the consumer is this process, reading through kombu as a worker does. Flat
out, kombu's own transport loses anything from none to a tenth of the messages depending on how
the scheduler interleaves the processes, so its loss is shown with producers held up half-way
through each message, where ours loses nothing either way.
"""

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from kombu import Connection

from reviewapp.core.filesystem_broker import PARTIAL_WRITE_GRACE_SECONDS

ROOT = Path(__file__).resolve().parents[2]
ATOMIC = "reviewapp.core.filesystem_broker:Transport"
PLAIN = "kombu.transport.filesystem:Transport"
# Many times the consumer's polling interval (below).
PAUSE_SECONDS = 0.01

# Each message carries padding of a length fixed by its number, so a short read shows. With a
# pause, every message file is held half-made for that long, as a producer the scheduler stops
# at the wrong moment would hold it: kombu's between creating the file and locking it to write,
# ours between writing the temporary file and renaming it into the queue.
PRODUCER = """
import json, os, sys, time
from kombu import Connection
from kombu.transport import filesystem
transport, options, name, producer, count, pause = sys.argv[1:]

def paused(call):
    def after_a_pause(*args):
        time.sleep(float(pause))
        return call(*args)
    return after_a_pause

if float(pause):
    filesystem.lock = paused(filesystem.lock)
    os.fsync = paused(os.fsync)
with Connection("filesystem://", transport=transport, transport_options=json.loads(options)) as c:
    queue = c.SimpleQueue(name)
    for seq in range(int(count)):
        queue.put({"producer": producer, "seq": seq, "pad": "x" * (seq * 37 % 4096)})
"""


def _options(folder: Path) -> dict:
    (folder / "control").mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "rejected_folder": str(folder / "rejected"),
        # A busy consumer, as close behind its producers as it can be.
        "polling_interval": 0.001,
    }


def _run(folder: Path, *, transport: str, producers: int, each: int, pause: float = 0.0):
    """Start the producers, consume until they are done and the queue is empty.

    Returns what the consumer received (producer, seq) and the errors its reads raised.
    """
    options = _options(folder)
    Path(options["data_folder_in"]).mkdir(parents=True, exist_ok=True)
    name = _queue_name()
    running = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                PRODUCER,
                transport,
                json.dumps(options),
                name,
                f"p{n}",
                str(each),
                str(pause),
            ],
            cwd=ROOT,
        )
        for n in range(producers)
    ]
    received: Counter = Counter()
    errors: list[Exception] = []
    with Connection("filesystem://", transport=transport, transport_options=options) as conn:
        queue = conn.SimpleQueue(name)
        while True:
            try:
                message = queue.get(block=True, timeout=0.2)
            except queue.Empty:
                if all(p.poll() is not None for p in running):
                    # The producers are done: one more look catches their last messages.
                    try:
                        message = queue.get(block=False)
                    except queue.Empty:
                        break
                else:
                    continue
            except ValueError as exc:  # JSONDecodeError: kombu's own transport, caught short
                if transport == ATOMIC:
                    raise
                errors.append(exc)
                continue
            body = message.payload
            assert len(body["pad"]) == body["seq"] * 37 % 4096, body
            received[(body["producer"], body["seq"])] += 1
            message.ack()
    assert [p.returncode for p in running] == [0] * producers
    return received, errors


def test_concurrent_producers_lose_and_duplicate_nothing(tmp_path):
    producers, each = 4, 5_000

    received, errors = _run(tmp_path, transport=ATOMIC, producers=producers, each=each)

    expected = {(f"p{n}", seq) for n in range(producers) for seq in range(each)}
    assert errors == []
    assert set(received) == expected, f"{len(expected - set(received))} messages lost"
    assert max(received.values()) == 1, "a message was delivered twice"
    assert not (tmp_path / "rejected").exists()
    # Nothing left behind: no temporary files, no claimed files.
    assert os.listdir(tmp_path / "queue") == [".claimed"]
    assert os.listdir(tmp_path / "queue" / ".claimed") == []


def test_a_producer_held_up_mid_write_loses_nothing(tmp_path):
    producers, each = 2, 100

    received, errors = _run(
        tmp_path, transport=ATOMIC, producers=producers, each=each, pause=PAUSE_SECONDS
    )

    assert errors == []
    assert sorted(received.values()) == [1] * producers * each


def test_kombus_own_transport_loses_the_messages_of_a_producer_held_up_mid_write(tmp_path):
    producers, each = 2, 100

    received, errors = _run(
        tmp_path, transport=PLAIN, producers=producers, each=each, pause=PAUSE_SECONDS
    )

    assert errors, "the consumer never read a message file before it was written"
    assert all(isinstance(exc, json.JSONDecodeError) for exc in errors)
    assert sum(received.values()) == producers * each - len(errors)


def test_a_filesystem_broker_url_means_this_transport(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    script = (
        "from reviewapp.celery import app\n"
        "transport = type(app.connection_for_write().transport)\n"
        "print(f'{transport.__module__}:{transport.__name__}')"
    )
    for url in (None, "filesystem://localhost/"):
        process = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env
            | {"REVIEWAPP_VAR_DIR": str(tmp_path)}
            | ({"CELERY_BROKER_URL": url} if url else {}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert process.returncode == 0, process.stderr
        assert process.stdout.strip() == ATOMIC, url


@pytest.fixture
def queue_folder(tmp_path):
    options = _options(tmp_path)
    Path(options["data_folder_in"]).mkdir()
    with Connection("filesystem://", transport=ATOMIC, transport_options=options) as conn:
        yield conn.SimpleQueue(_queue_name()), tmp_path


def _queue_name() -> str:
    # kombu keeps the filesystem transport's bindings in one state per process, whatever the
    # folders: a queue name reused with other folders would be taken as bound already.
    return f"load-{uuid.uuid4().hex[:12]}"


def _drop(queue, folder: Path, name: str, content: bytes, *, age: float = 0.0) -> Path:
    path = folder / "queue" / f"{round(time.monotonic() * 1000)}_{name}.{queue.queue.name}.msg"
    path.write_bytes(content)
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    return path


def test_files_that_are_not_messages_are_set_aside_and_the_rest_delivered(queue_folder, caplog):
    queue, folder = queue_folder
    stale = PARTIAL_WRITE_GRACE_SECONDS + 60
    queue.put({"n": 1})
    _drop(queue, folder, "empty", b"", age=stale)
    _drop(queue, folder, "garbage", b"\xff\xfe not json", age=stale)
    _drop(queue, folder, "not-a-message", b'{"hello": "world"}', age=stale)
    queue.put({"n": 2})

    with caplog.at_level(logging.ERROR, logger="reviewapp.core.filesystem_broker"):
        delivered = [queue.get(block=False).payload for _ in range(2)]
        with pytest.raises(queue.Empty):
            queue.get(block=False)

    assert sorted(body["n"] for body in delivered) == [1, 2]
    rejected = sorted(
        p.name.split("_", 1)[1].split(".")[0] for p in (folder / "rejected").iterdir()
    )
    assert rejected == ["empty", "garbage", "not-a-message"]
    assert len([r for r in caplog.records if "not a message" in r.getMessage()]) == 3


def test_a_file_still_being_written_in_place_is_read_once_complete(queue_folder):
    queue, folder = queue_folder
    queue.put({"n": 7})
    [message_file] = (folder / "queue").glob("*.msg")
    body = message_file.read_bytes()
    # What kombu's own producer leaves for a moment: the file created, its body not yet written.
    message_file.write_bytes(b"")

    with pytest.raises(queue.Empty):
        queue.get(block=False)
    assert message_file.exists(), "a young empty file must go back to the queue"
    message_file.write_bytes(body)

    assert queue.get(block=False).payload == {"n": 7}
    assert not (folder / "rejected").exists()
