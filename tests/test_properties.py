"""Random sequences of money operations never break the ledger's invariants."""

import io
from dataclasses import replace

from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from PIL import Image

from core import accounts, billing, jobs
from core.audit import check_ledger
from core.errors import InsufficientCredits, InvalidAmount, TooManyJobs
from core.queue import MemoryQueue
from core.storage import DirectoryStore
from tests.conftest import reset_database


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "green").save(buffer, "PNG")
    return buffer.getvalue()


IMAGE = png()


def test_random_operations_keep_the_ledger_consistent(settings):
    base_settings = replace(settings, max_jobs_in_flight=4)

    class Ledger(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            reset_database()
            self.storage = DirectoryStore(base_settings.storage_dir)
            self.queue = MemoryQueue(base_settings)
            self.users = [accounts.register_telegram_user(n, signup_bonus=2)[0].id for n in (1, 2)]
            self.jobs: list[str] = []
            self.payments = 0
            self.expected_total = {user_id: 2 for user_id in self.users}

        @rule(who=st.integers(0, 1), credits=st.integers(1, 5), repeat=st.booleans())
        def top_up(self, who, credits, repeat):
            if not repeat or self.payments == 0:
                self.payments += 1
            result = billing.top_up(self.users[who], credits, payment_id=f"pay-{self.payments}")
            if result.credited:
                self.expected_total[self.users[who]] += credits

        @rule(who=st.integers(0, 1), amount=st.integers(-4, 4))
        def adjust(self, who, amount):
            try:
                billing.adjust_credits(self.users[who], amount, "test")
                self.expected_total[self.users[who]] += amount
            except (InsufficientCredits, InvalidAmount):
                pass

        @rule(who=st.integers(0, 1))
        def submit(self, who):
            try:
                job = jobs.submit_job(self.users[who], IMAGE, {}, settings=base_settings, storage=self.storage,
                                      queue=self.queue)
                self.jobs.append(job.id)
                self.expected_total[self.users[who]] -= job.price
            except (InsufficientCredits, TooManyJobs):
                pass

        @precondition(lambda self: self.jobs)
        @rule(index=st.integers(0, 100), outcome=st.sampled_from(["start", "done", "fail", "cancel", "retry"]))
        def move_job(self, index, outcome):
            job = jobs.get_job(self.jobs[index % len(self.jobs)])
            if outcome == "start":
                jobs.start_job(job.id)
            elif outcome == "done":
                jobs.complete_job(job.id, output_key="k", content_type="image/png")
            elif outcome == "fail" and jobs.fail_job(job.id, "x"):
                self.expected_total[job.user_id] += job.price
            elif outcome == "cancel":
                queued = [j for j in map(jobs.get_job, self.jobs) if j.user_id == job.user_id and j.status == "queued"]
                assert sorted(j.id for j in jobs.cancel_queued_jobs(job.user_id)) == sorted(j.id for j in queued)
                self.expected_total[job.user_id] += sum(j.price for j in queued)
            elif outcome == "retry" and job.status == "failed":
                try:
                    jobs.retry_job(job.id, self.queue)
                    self.expected_total[job.user_id] -= job.price
                except InsufficientCredits:
                    pass

        @invariant()
        def ledger_is_consistent(self):
            assert check_ledger() == []

        @invariant()
        def balances_match_the_model(self):
            for user_id, total in self.expected_total.items():
                balance = billing.balance(user_id)
                assert balance.total == total
                assert balance.bonus >= 0 and balance.paid >= 0

    Ledger.TestCase.settings = hypothesis_settings(max_examples=25, stateful_step_count=25, deadline=None,
                                                   suppress_health_check=list(HealthCheck))
    Ledger.TestCase().runTest()
