"""Counters of the rate limits and sign-in slow-downs, shared by every panel process and host."""

from peewee import CharField, DoubleField, IntegerField, Model


def apply(database, migrator) -> None:
    class RateLimit(Model):
        key = CharField(primary_key=True, max_length=255)
        started = DoubleField()  # seconds since the epoch: the window's start, or the first failure
        last = DoubleField(index=True)  # the latest hit (old counters are deleted by it)
        hits = IntegerField()

        class Meta:
            table_name = "rate_limits"

    database.bind([RateLimit])
    database.create_tables([RateLimit])
