"""The RabbitMQ queue against the real broker: acks, persistence, dead letters, redelivery, reconnects."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest

from core.errors import QueueUnavailable
from core.queue import Reject, decode
from core.queue.rabbit import RabbitQueue
from tests.conftest import make_settings
from tests.support.proxy import Proxy
from tests.support.queues import closed_port, publish_raw
from tests.support.waiting import wait_for


class Recorder:
    """A handler that records messages; `fail_first` raises for that many calls first."""

    def __init__(self, fail_first: int = 0, error: Exception | None = None, hold: float = 0.0):
        self.messages: list[dict] = []
        self.calls = 0
        self.fail_first, self.error, self.hold = fail_first, error, hold

    def __call__(self, message: dict) -> None:
        self.calls += 1
        if self.hold:
            threading.Event().wait(self.hold)  # stands in for a long inference
        if self.error is not None:
            raise self.error
        if self.calls <= self.fail_first:
            raise RuntimeError("transient")
        self.messages.append(message)


@pytest.fixture
def rabbit(rabbit_settings, rabbit_queue):
    """A RabbitQueue on the test broker (rabbit_settings from conftest)."""
    return rabbit_queue(rabbit_settings)


def take(queue: RabbitQueue, queue_name: str):
    """One message (method, properties, body) straight from the broker, or None."""
    connection = queue.connect()
    try:
        return connection.channel().basic_get(queue_name, auto_ack=True)
    finally:
        connection.close()


def test_published_job_is_consumed_once_and_acked(rabbit, rabbit_settings, consumers):
    rabbit.publish_job("job-1")
    assert rabbit.depth(rabbit_settings.input_queue) == 1
    recorder = Recorder()
    consumers.start(rabbit, rabbit_settings.input_queue, recorder)
    wait_for(lambda: recorder.messages, what="the message")
    consumers.join()  # closing the connection would return an unacked message to the queue
    assert recorder.messages == [{"job_id": "job-1", "v": 1}]
    assert rabbit.depth(rabbit_settings.input_queue) == 0


def test_messages_are_persistent_json(rabbit, rabbit_settings):
    rabbit.publish_result("job-2")
    method, properties, body = take(rabbit, rabbit_settings.result_queue)
    assert (properties.delivery_mode, properties.content_type) == (2, "application/json")
    assert decode(body) == {"job_id": "job-2", "v": 1}


def test_queues_are_durable_and_declaring_them_again_is_harmless(rabbit, rabbit_settings):
    rabbit.publish_job("job-3")
    connection = rabbit.connect()
    try:
        RabbitQueue(rabbit_settings).declare(connection.channel())  # a second process starting
        with pytest.raises(Exception, match="inequivalent arg 'durable'"):
            connection.channel().queue_declare(rabbit_settings.dead_letter_queue, durable=False)
    finally:
        connection.close()
    assert rabbit.depth(rabbit_settings.input_queue) == 1


def test_rejected_message_lands_in_the_dead_letter_queue(rabbit, rabbit_settings, consumers):
    publish_raw(rabbit, rabbit_settings.input_queue, b"not a job event")
    rabbit.publish_job("poison")
    recorder = Recorder(error=Reject("can never succeed"))
    consumers.start(rabbit, rabbit_settings.input_queue, recorder)
    wait_for(lambda: rabbit.depth(rabbit_settings.dead_letter_queue) == 2, what="two dead letters")
    assert recorder.calls == 1  # the body that is not a job event never reaches the handler
    assert rabbit.depth(rabbit_settings.input_queue) == 0
    method, properties, body = take(rabbit, rabbit_settings.dead_letter_queue)
    assert body == b"not a job event"
    assert properties.headers["x-death"][0]["reason"] == "rejected"


def test_message_whose_handler_fails_is_delivered_again(rabbit, rabbit_settings, consumers):
    rabbit.publish_job("flaky")
    recorder = Recorder(fail_first=1)
    consumers.start(rabbit, rabbit_settings.input_queue, recorder)
    wait_for(lambda: recorder.messages, what="the second delivery")
    assert recorder.calls == 2
    consumers.join()
    assert rabbit.depth(rabbit_settings.input_queue) == 0


def test_long_handler_does_not_lose_the_connection(tmp_path, amqp_names, consumers):
    # A 1 s heartbeat: a handler blocking the connection's thread for 4 s would be cut off by the
    # broker and the message delivered a second time.
    settings = make_settings(tmp_path, amqp_heartbeat=1, **amqp_names)
    queue = RabbitQueue(settings)
    queue.publish_job("slow")
    recorder = Recorder(hold=4.0)
    consumers.start(queue, settings.input_queue, recorder)
    wait_for(lambda: recorder.messages, what="the slow message")
    consumers.join()
    assert recorder.calls == 1
    assert queue.depth(settings.input_queue) == 0
    queue.close()


def test_threads_may_publish_at_once(rabbit, rabbit_settings):
    def publish_many(start: int) -> None:
        for number in range(start, start + 25):
            rabbit.publish_job(f"job-{number}")

    threads = [threading.Thread(target=publish_many, args=(start,)) for start in range(0, 200, 25)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert rabbit.depth(rabbit_settings.input_queue) == 200


def test_publish_to_a_queue_that_does_not_exist_raises_queue_unavailable(rabbit):
    with pytest.raises(QueueUnavailable, match="no queue 'missing-"):
        rabbit.publish(f"missing-{uuid.uuid4().hex}", "job-4")
    rabbit.publish_job("job-5")  # the channel is still usable afterwards


def test_publishing_declares_a_deleted_queue_of_ours_again(rabbit, rabbit_settings):
    rabbit.publish_job("job-7")
    connection = rabbit.connect()
    connection.channel().queue_delete(rabbit_settings.input_queue)
    connection.close()
    rabbit.publish_job("job-8")  # no consumer is running to declare it
    assert rabbit.depth(rabbit_settings.input_queue) == 1


def test_unreachable_broker_raises_a_clear_error_without_the_password(tmp_path):
    port = closed_port()
    queue = RabbitQueue(make_settings(tmp_path, amqp_url=f"amqp://guest:s3cret@127.0.0.1:{port}/%2F"))
    with pytest.raises(QueueUnavailable) as raised:
        queue.publish_job("job-6")
    assert f"cannot reach RabbitMQ at 127.0.0.1:{port}" in str(raised.value)
    assert "s3cret" not in str(raised.value)
    assert queue.ping() is False


def test_depth_of_a_queue_that_does_not_exist_is_zero(rabbit):
    assert rabbit.ping() is True
    assert rabbit.depth(f"missing-{uuid.uuid4().hex}") == 0


def test_consumer_declares_its_queue_again_when_the_queue_is_deleted(rabbit, rabbit_settings, consumers):
    recorder = Recorder()
    consumers.start(rabbit, rabbit_settings.input_queue, recorder)
    rabbit.publish_job("first")
    wait_for(lambda: recorder.messages, what="the first message")
    connection = rabbit.connect()
    connection.channel().queue_delete(rabbit_settings.input_queue)  # an operator's mistake
    connection.close()

    def published() -> bool:
        try:
            rabbit.publish_job("second")  # unroutable until the consumer has declared the queue again
            return True
        except QueueUnavailable:
            return False

    wait_for(published, what="the queue to exist again")
    wait_for(lambda: len(recorder.messages) == 2, what="the message to the new queue")


def test_consumer_and_publisher_reconnect_after_the_connection_drops(tmp_path, amqp_names, consumers, caplog):
    from urllib.parse import urlparse

    broker = urlparse(amqp_names["amqp_url"])
    proxy = Proxy((broker.hostname, broker.port or 5672))
    relayed = dict(amqp_names, amqp_url=amqp_names["amqp_url"].replace(broker.netloc.split("@")[-1],
                                                                       f"127.0.0.1:{proxy.port}"))
    settings = make_settings(tmp_path, **relayed)
    queue = RabbitQueue(settings)
    try:
        recorder = Recorder()
        consumers.start(queue, settings.input_queue, recorder)
        queue.publish_job("before")
        wait_for(lambda: len(recorder.messages) == 1, what="the first message")
        with caplog.at_level(logging.INFO, logger="core.queue.rabbit"):
            proxy.cut()
            queue.publish_job("after")  # the publisher notices the dead connection and opens a new one
            wait_for(lambda: {"job_id": "after", "v": 1} in recorder.messages, what="the message after the cut")
        # "before" comes twice when the cut beat its ack to the broker: at least once, never lost.
        assert {m["job_id"] for m in recorder.messages} == {"before", "after"}
        assert "consumer of" in caplog.text and "lost RabbitMQ" in caplog.text
        assert "publisher connection lost" in caplog.text
    finally:
        consumers.join()
        queue.close()
        proxy.close()
