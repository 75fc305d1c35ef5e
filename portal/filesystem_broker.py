"""Celery's filesystem broker, the embedded default of `make run`, with whole messages only.

kombu's filesystem transport creates a message file under its final name and then writes it,
while a worker polling the folder may take the file in between: it reads an empty message, and
the JSON error stops the worker for good ("Unrecoverable error"). Here a message is written under
a name no queue matches (`….msg.part`) and renamed into place once complete, which on one
filesystem is atomic: a worker sees a message whole or not at all.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + ".part"
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
