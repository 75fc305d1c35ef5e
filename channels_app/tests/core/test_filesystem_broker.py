"""The embedded broker (`make run`): a worker polling the folder while messages are written must
never read half a message (kombu's own transport lets it, and the worker stops for good)."""

import threading

from kombu import Connection

from portal.filesystem_broker import Transport

N = 3000


def _connection(folder, transport):
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "store_processed": False}
    options["control_folder"] = str(folder / "control")
    (folder / "control").mkdir(exist_ok=True)
    return Connection("filesystem://", transport=transport, transport_options=options)


def _race(folder, transport) -> tuple[list, list]:
    """A producer writes N messages while a consumer takes them as fast as it can."""
    got, errors = [], []

    def produce():
        with _connection(folder, transport) as conn:
            queue = conn.SimpleQueue("race")
            for i in range(N):
                queue.put({"n": i, "pad": "x" * 2000})
            queue.close()

    producer = threading.Thread(target=produce)
    with _connection(folder, transport) as conn:
        queue = conn.SimpleQueue("race")
        producer.start()
        while len(got) + len(errors) < N:
            try:
                message = queue.get(timeout=10)
            except queue.Empty:
                break
            except ValueError as exc:  # JSONDecodeError: a message read before it was written
                errors.append(exc)
                continue
            got.append(message.payload["n"])
            message.ack()
        queue.close()
    producer.join()
    return got, errors


def test_a_polling_worker_reads_every_message_whole(tmp_path):
    got, errors = _race(tmp_path, f"{Transport.__module__}:{Transport.__name__}")
    assert errors == []
    assert sorted(got) == list(range(N))
