"""The bot's update processor: one chat's updates in order, different chats side by side."""

from __future__ import annotations

import asyncio

from telegram import Update

from bot.concurrency import PerChatUpdateProcessor
from tests.support.bot_updates import Person


def update_of(person: Person) -> Update:
    return Update.de_json(person.text("hello"), None)


async def scenario() -> list[str]:
    processor = PerChatUpdateProcessor(running=4)
    ann, bob = Person(1), Person(2)
    log: list[str] = []
    release_first, bob_done = asyncio.Event(), asyncio.Event()

    async def handle(name: str, wait: asyncio.Event | None = None, done: asyncio.Event | None = None) -> None:
        log.append(f"{name} start")
        if wait:
            await wait.wait()
        log.append(f"{name} end")
        if done:
            done.set()

    tasks = [asyncio.create_task(processor.process_update(update_of(ann), handle("ann-1", release_first))),
             asyncio.create_task(processor.process_update(update_of(ann), handle("ann-2"))),
             asyncio.create_task(processor.process_update(update_of(bob), handle("bob-1", done=bob_done)))]
    try:
        await asyncio.wait_for(bob_done.wait(), 5)  # bob is not held up by ann's slow first update
        assert "ann-2 start" not in log
    finally:
        release_first.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert not processor._locks  # forgotten once idle
    return log


def test_one_chat_waits_for_its_earlier_update_while_another_chat_runs():
    log = asyncio.run(scenario())
    assert log.index("ann-1 end") < log.index("ann-2 start")
    assert log.index("bob-1 end") < log.index("ann-1 end")


async def bounded() -> int:
    processor = PerChatUpdateProcessor(running=2)
    active = peak = 0

    async def handle() -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1

    await asyncio.gather(*(processor.process_update(update_of(Person(n)), handle()) for n in range(10)))
    return peak


def test_at_most_running_handlers_run_at_once():
    assert asyncio.run(bounded()) == 2


async def checkout_behind_a_slow_update() -> None:
    processor = PerChatUpdateProcessor(running=4)
    ann = Person(1)
    release_photo = asyncio.Event()
    answered = asyncio.Event()

    async def slow_photo() -> None:
        await release_photo.wait()

    async def answer_checkout() -> None:
        answered.set()

    photo = asyncio.create_task(processor.process_update(update_of(ann), slow_photo()))
    checkout = Update.de_json(ann.pre_checkout("credits:10:50", 50), None)
    task = asyncio.create_task(processor.process_update(checkout, answer_checkout()))
    try:
        await asyncio.wait_for(answered.wait(), 5)
    finally:
        release_photo.set()
        await asyncio.gather(photo, task)


def test_a_pre_checkout_query_is_answered_without_waiting_for_the_persons_earlier_updates():
    # Telegram drops the payment unless the pre-checkout query is answered within 10 seconds.
    asyncio.run(checkout_behind_a_slow_update())
