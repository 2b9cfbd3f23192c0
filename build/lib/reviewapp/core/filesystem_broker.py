"""kombu's filesystem transport, with message files that appear in the queue folder whole.

kombu's own producer creates the message file under its final name and only then locks and
writes it. A consumer polling the folder can move and read the file in between, get an empty
body and raise ``JSONDecodeError`` out of ``_get``, which Celery treats as unrecoverable: the
message is lost and the worker stops. Here the producer writes a temporary file in the same
folder, under a name no consumer matches, and renames it into place, so a consumer sees either
nothing or the whole message.

A consumer claims a file by renaming it into a claim folder beside the queue (on the same file
system, so exactly one consumer wins), and a file it cannot read as a message never reaches
Celery: it goes back to the queue for a few seconds, in case a producer that still writes in
place (kombu's own transport) is half-way through it, then into a rejected folder, with a log
line naming it.

Select it with Celery's ``broker_transport`` set to ``reviewapp.core.filesystem_broker:Transport``
and a ``filesystem://`` broker URL; its transport options are kombu's (``data_folder_in``,
``data_folder_out``, ``processed_folder``, ``store_processed``, ``control_folder``) plus
``rejected_folder`` (default: ``.rejected`` inside ``data_folder_in``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from collections import deque
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

logger = logging.getLogger(__name__)

# A producer's file while it is being written. kombu's consumers take only names ending in
# "<queue>.msg", so neither ours nor theirs ever picks one up.
TEMP_SUFFIX = ".tmp"

# How long an unreadable message file may still be in the middle of being written by a producer
# that writes in place; after that it is set aside.
PARTIAL_WRITE_GRACE_SECONDS = 5.0


class Channel(filesystem.Channel):
    # kombu's filesystem channel and its base name the second argument differently.
    def _put(self, queue: str, payload: dict, **kwargs: Any) -> None:  # type: ignore[override]
        # Same name as kombu's (creation time first, so the folder sorts oldest first).
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        temporary = final + TEMP_SUFFIX
        try:
            with open(temporary, "xb") as file:
                file.write(str_to_bytes(dumps(payload)))
                file.flush()
                # Without it, a power cut can leave the final name pointing at an empty file.
                os.fsync(file.fileno())
            os.rename(temporary, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str, timeout: float | None = None) -> dict:
        pending = self._pending.get(queue)
        if not pending:
            # One listing serves many calls: listing and sorting a folder for every message
            # makes a backlog of n messages cost n squared.
            wanted = f"{queue}.msg"
            names = (n for n in os.listdir(self.data_folder_in) if n.partition(".")[2] == wanted)
            pending = self._pending[queue] = deque(sorted(names))
        while pending:
            name = pending.popleft()
            claimed = self._claim(name)
            if claimed is None:
                continue
            try:
                with open(claimed, "rb") as file:
                    raw = file.read()
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            payload, problem = self._decode(raw)
            if payload is None:
                self._set_aside(name, claimed, problem)
                continue
            self._done(claimed)
            return payload
        raise Empty()

    def _claim(self, name: str) -> str | None:
        """Move a queued file into the claim folder; None when another consumer was first."""
        source = os.path.join(self.data_folder_in, name)
        target = os.path.join(self.claimed_folder, name)
        try:
            os.rename(source, target)
        except FileNotFoundError:
            if os.path.isdir(self.claimed_folder):
                return None
            # The claim folder itself went missing (someone tidied var/): make it again.
            os.makedirs(self.claimed_folder, exist_ok=True)
            return self._claim(name)
        except OSError as exc:
            raise ChannelError(f"Cannot claim file {source!r} from queue.") from exc
        return target

    def _decode(self, raw: bytes) -> tuple[dict | None, str]:
        """The message in a file, or None and why it is not one."""
        try:
            payload = loads(bytes_to_str(raw))
            # What kombu builds from it on delivery; anything that fails here would fail
            # there, inside the worker's consumer loop.
            self.Message(payload, channel=self)
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"[:200]
        return payload, ""

    def _set_aside(self, name: str, claimed: str, problem: str) -> None:
        try:
            age = time.time() - os.stat(claimed).st_mtime
            if abs(age) < PARTIAL_WRITE_GRACE_SECONDS:
                # Possibly still being written in place: back into the queue, read next poll.
                os.rename(claimed, os.path.join(self.data_folder_in, name))
                return
            os.makedirs(self.rejected_folder, exist_ok=True)
            rejected = os.path.join(self.rejected_folder, name)
            shutil.move(claimed, rejected)
        except OSError:
            # Out of the queue already, which is what keeps the consumer going; it stays in
            # the claim folder.
            logger.exception("Could not set aside the broker file %s (%s)", claimed, problem)
            return
        logger.error("Set aside a broker file that is not a message (%s): %s", problem, rejected)

    def _done(self, claimed: str) -> None:
        try:
            if self.store_processed:
                target = os.path.join(self.processed_folder, os.path.basename(claimed))
                shutil.move(claimed, target)
            else:
                os.remove(claimed)
        except OSError:
            # The message is read and out of the queue: deliver it rather than lose it.
            logger.exception("Could not clear the claimed broker file %s", claimed)

    @cached_property
    def _pending(self) -> dict[str, deque[str]]:
        """Per queue, names from the last listing not yet tried, oldest first."""
        return {}

    @cached_property
    def claimed_folder(self) -> str:
        # Inside the queue folder, so the claiming rename never crosses file systems.
        folder = os.path.join(self.data_folder_in, ".claimed")
        os.makedirs(folder, exist_ok=True)
        return folder

    @cached_property
    def rejected_folder(self) -> str:
        default = os.path.join(self.data_folder_in, ".rejected")
        return self.transport_options.get("rejected_folder", default)


class Transport(filesystem.Transport):
    Channel = Channel
