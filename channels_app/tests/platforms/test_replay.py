"""Replaying real customer tweets (a sample of the public "Customer Support on Twitter" corpus,
found through `shared_data`, which skips the test where the sample is absent) through the X
webhook of a retired channel, then sending the replies to a real fake X."""

import csv
from collections import Counter

import pytest
from django.db.models import Count

from channels_app.core.textrules import weighted_length
from channels_app.models import Message, OutboxMessage, OutboxState
from channels_app.platforms.services.outbox import send_due_replies
from channels_app.tests.support.fakeplatforms import build_tweet
from channels_app.tests.support.helpers import shared_data
from channels_app.tests.support.inbound_helpers import platform_channel, post_x, sunset

pytestmark = pytest.mark.django_db
BATCH = 50  # X batches several events per delivery


def _inbound_tweets() -> list[dict]:
    with shared_data("twcs_sample.csv").open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["inbound"] == "True"]
    tweets = []
    for row in rows:
        reply_to = row["in_response_to_tweet_id"]
        tweets.append(
            build_tweet(
                row["tweet_id"],
                row["text"],
                row["author_id"],  # customers are anonymised numbers in the corpus
                f"customer{row['author_id']}",
                created_at=row["created_at"],
                in_reply_to=str(int(float(reply_to))) if reply_to else None,
            )
        )
    return tweets


def _replay(client, channel, tweets) -> Counter:
    totals: Counter = Counter()
    for start in range(0, len(tweets), BATCH):
        response = post_x(client, channel, tweets[start : start + BATCH])
        assert response.status_code == 200, response.content
        totals.update(response.json())
    return totals


def test_replaying_the_corpus_answers_each_customer_once_and_twice_changes_nothing(
    client, manager, approver, platform_secrets, fake_x
):
    channel = platform_channel("x", fake_x.base_url)
    sunset(manager=manager, approver=approver, channels=[channel])
    tweets = _inbound_tweets()
    author = {t["id_str"]: t["user"]["id_str"] for t in tweets}
    customers = set(author.values())
    assert len(tweets) > 2500 and len(customers) > 1000

    first = _replay(client, channel, tweets)
    assert first == {"stored": len(tweets), "duplicates": 0, "replies_queued": len(tweets)}
    report = send_due_replies()
    assert send_due_replies().claimed == 0  # drained

    # None lost: every tweet stored, every one with its outbox row, every row decided.
    assert Message.objects.filter(direction="in").count() == len(tweets)
    states = dict(OutboxMessage.objects.values_list("state").annotate(n=Count("id")))
    assert states == {OutboxState.SENT: len(customers), OutboxState.SKIPPED: len(tweets) - len(customers)}
    assert (report.sent, report.skipped, report.failed, report.retried) == (
        len(customers),
        len(tweets) - len(customers),
        0,
        0,
    )
    assert set(OutboxMessage.objects.filter(state="skipped").values_list("last_error", flat=True)) <= {
        "cooldown: this customer was answered on this channel in the last 86400 s",
        *{
            f"cooldown: reply #{n} to the same customer goes out in this batch"
            for n in OutboxMessage.objects.values_list("id", flat=True)
        },
    }
    # None doubled: one reply per customer, each answering one of that customer's tweets.
    answered = Counter(author[t["in_reply_to"]] for t in fake_x.tweets)
    assert set(answered) == customers
    assert set(answered.values()) == {1}
    # Each within X's length rules (the fake checks every request too).
    assert max(weighted_length(t["text"]) for t in fake_x.tweets) <= 280
    assert fake_x.violations == []

    second = _replay(client, channel, tweets)
    assert second == {"stored": 0, "duplicates": len(tweets), "replies_queued": 0}
    assert send_due_replies().claimed == 0
    assert Message.objects.filter(direction="in").count() == len(tweets)
    assert OutboxMessage.objects.count() == len(tweets)
    assert len(fake_x.tweets) == len(customers)
