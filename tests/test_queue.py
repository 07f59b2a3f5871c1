"""The queue's message format, the choice of back end, and the in-process queue."""

from __future__ import annotations

import pytest

from core.queue import MemoryQueue, Reject, decode, encode, open_queue
from core.queue.rabbit import RabbitQueue
from tests.conftest import make_settings
from tests.support.queues import closed_port
from tests.support.waiting import wait_for


def test_messages_carry_the_job_id_and_a_version_only():
    assert decode(encode("abc")) == {"job_id": "abc", "v": 1}


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"job_id": "abc", "v": 2}', b'{"v": 1}'])
def test_anything_but_a_v1_job_event_is_rejected(body):
    with pytest.raises(Reject):
        decode(body)


def test_without_amqp_url_the_queue_is_in_process(tmp_path):
    assert isinstance(open_queue(make_settings(tmp_path)), MemoryQueue)


def test_with_amqp_url_the_queue_is_rabbitmq_and_connects_only_when_used(tmp_path):
    queue = open_queue(make_settings(tmp_path, amqp_url=f"amqp://guest:guest@127.0.0.1:{closed_port()}/%2F"))
    assert isinstance(queue, RabbitQueue)


def test_memory_queue_acks_dead_letters_and_redelivers(tmp_path, consumers):
    queue = MemoryQueue(make_settings(tmp_path))
    seen = []

    def handler(message):
        seen.append(message["job_id"])
        if message["job_id"] == "poison":
            raise Reject("never")
        if message["job_id"] == "flaky" and seen.count("flaky") == 1:
            raise RuntimeError("once")

    for job_id in ("fine", "poison", "flaky"):
        queue.publish("input_queue", job_id)
    consumers.start(queue, "input_queue", handler)
    wait_for(lambda: seen.count("flaky") == 2, what="the flaky message again")
    assert seen == ["fine", "poison", "flaky", "flaky"]
    assert queue.depth(queue.dead_letter_queue) == 1  # the poison
    assert queue.depth("input_queue") == 0
