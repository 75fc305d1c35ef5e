"""Poll the channels that have no webhooks (YouTube comments, IMAP mailboxes) once, now."""

from django.core.management.base import BaseCommand, CommandError

from channels_app.models import Channel, ChannelKind
from channels_app.platforms.selectors import email_channels_to_poll, youtube_channels_to_poll
from channels_app.platforms.services.polling import poll_email_channel, poll_youtube_channel


class Command(BaseCommand):
    help = (
        "Poll every YouTube channel and every email channel with an IMAP mailbox once, as beat does "
        "(or only the channels given by id); print what each poll stored or its error."
    )

    def add_arguments(self, parser):
        parser.add_argument("channel_ids", nargs="*", type=int, help="only these channels")

    def handle(self, *args, channel_ids, **options):
        polls = dict.fromkeys(youtube_channels_to_poll(), poll_youtube_channel)
        polls.update(dict.fromkeys(email_channels_to_poll(), poll_email_channel))
        if channel_ids:
            unknown = [pk for pk in channel_ids if pk not in polls]
            if unknown:
                raise CommandError(
                    f"Not a polled channel (YouTube with credentials, or email with an IMAP mailbox): {unknown}"
                )
            polls = {pk: polls[pk] for pk in channel_ids}
        failed = 0
        for channel_id, poll in sorted(polls.items()):
            result = poll(channel_id=channel_id)
            channel = Channel.objects.only("name", "kind", "poll_error").get(pk=channel_id)
            line = (
                f"{channel.name} ({ChannelKind(channel.kind).label}): {result.stored} stored, "
                f"{result.duplicates} duplicates, {result.replies_queued} replies queued"
            )
            if channel.poll_error:
                failed += 1
                self.stderr.write(f"{line}; {channel.poll_error}")
            else:
                self.stdout.write(line)
        if failed:
            raise CommandError(f"{failed} of {len(polls)} polls reported a problem.")
