"""Keyset paging (newest first, from an id: no COUNT, no OFFSET) and the page size of lists."""

from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


@dataclass
class KeysetPage:
    """One page of a list read newest first by id: `newer` / `older` are the ids to ask the
    next pages from (None where there is none)."""

    object_list: list
    newer: int | None
    older: int | None

    @property
    def has_other_pages(self) -> bool:
        return self.newer is not None or self.older is not None


def keyset_page(queryset, *, size: int, before: int | None = None, after: int | None = None) -> KeysetPage:
    """The page of `queryset` (ordered by -id) just older than id `before`, or just newer
    than id `after`, or the newest. One query however deep the page: no count, no OFFSET,
    which an append-only table that only grows needs."""
    if after is not None:
        rows = list(queryset.filter(id__gt=after).order_by("id")[: size + 1])
        more = len(rows) > size
        rows = rows[:size][::-1]
        return KeysetPage(rows, rows[0].pk if more and rows else None, rows[-1].pk if rows else after + 1)
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    rows = list(queryset[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    newer = rows[0].pk if before is not None and rows else None
    return KeysetPage(rows, newer, rows[-1].pk if more else None)


class KeysetForm(forms.Form):
    """Where a newest-first list resumes: just older than id `before`, or just newer than
    id `after` (the links of its pager write them)."""

    before = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    after = forms.IntegerField(required=False, min_value=0, max_value=2**63 - 1)

    def clean(self):
        data = super().clean()
        if data.get("before") is not None and data.get("after") is not None:
            raise ValidationError(_("Ask for older or for newer events, not both."))
        return data


PAGE_SIZE = 25
