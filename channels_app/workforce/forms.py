"""Forms of the HR pages. They only validate and convert; services act."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from channels_app.models import Agent, AnswerKind, DepartureReason


class IdListField(forms.Field):
    """Repeated `agent_ids` values; checked against the plan by the service."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return []
        try:
            return [int(v) for v in value]
        except (TypeError, ValueError):
            raise ValidationError(_("Agent ids must be numbers.")) from None


class MoveForm(forms.Form):
    """Shared by the board's actions: which agents, and the move's details where they apply."""

    scope = forms.ChoiceField(choices=[("selected", _("Selected")), ("all", _("All"))], required=False)
    agent_ids = IdListField(required=False)
    to_team = forms.CharField(max_length=120, required=False, label=_("Destination team"))
    role = forms.CharField(max_length=80, required=False, label=_("Role"))
    effective_date = forms.DateField(
        required=False, label=_("Effective date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    confirm = forms.BooleanField(required=False, label=_("Confirm at once"))

    def agents(self) -> list[int] | None:
        """None means "all of them"."""
        if self.cleaned_data.get("scope") == "all":
            return None
        return self.cleaned_data.get("agent_ids") or []


class ImportForm(forms.Form):
    file = forms.FileField(label=_("Reassignment CSV"))


class StaffingInputsForm(forms.Form):
    """Shares are typed as percentages; the service stores fractions."""

    affected_share_threshold = forms.IntegerField(
        min_value=0,
        max_value=99,
        # The "%" is a literal percent sign: xgettext:no-python-format
        label=_("Affected when more than this % of a team's work retires"),
    )
    volume_window_days = forms.IntegerField(min_value=1, max_value=366, label=_("Volume window (days)"))
    aht_seconds = forms.IntegerField(min_value=1, max_value=36000, label=_("Average handle time (s)"))
    service_level_target = forms.IntegerField(min_value=1, max_value=99, label=_("Service level (% answered)"))
    answer_seconds = forms.IntegerField(min_value=0, max_value=3600, label=_("... within (s)"))
    shrinkage = forms.IntegerField(min_value=0, max_value=95, label=_("Shrinkage (%)"))

    PERCENT_FIELDS = ("affected_share_threshold", "service_level_target", "shrinkage")

    @classmethod
    def initial_from(cls, inputs) -> dict:
        return {
            name: round(getattr(inputs, name) * 100) if name in cls.PERCENT_FIELDS else getattr(inputs, name)
            for name in cls.base_fields
        }

    def service_values(self) -> dict:
        return {
            name: (value / 100 if name in self.PERCENT_FIELDS else value) for name, value in self.cleaned_data.items()
        }


class DepartureForm(forms.Form):
    """HR records that an agent left: who, the day, why."""

    employee_id = forms.CharField(max_length=32, label=_("Employee id"))
    left_on = forms.DateField(label=_("Left on"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.ChoiceField(choices=DepartureReason.choices, label=_("Reason"))
    note = forms.CharField(max_length=500, required=False, label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}))
    deactivate = forms.BooleanField(required=False, label=_("They left the company: deactivate the agent"))

    def clean_employee_id(self):
        employee_id = self.cleaned_data["employee_id"].strip()
        agent = Agent.objects.filter(employee_id=employee_id).first()
        if agent is None:
            raise ValidationError(_("No agent has the employee id “%(id)s”.") % {"id": employee_id})
        self.agent = agent
        return employee_id


class AgentAnswerForm(forms.Form):
    """The agent's answer on their page. Which teams they may prefer is the service's rule
    (services/agent_page.py: answer_move); the page lists them."""

    answer = forms.ChoiceField(label=_("Your answer"), choices=AnswerKind.choices)
    concern = forms.CharField(label=_("Your question or concern"), required=False, max_length=2000)
    preferred_team = forms.IntegerField(label=_("The team you would prefer"), required=False, min_value=1)


class AgentReplyForm(forms.Form):
    """HR's reply to an agent's answer, from the board."""

    agent = forms.IntegerField(min_value=1)
    text = forms.CharField(label=_("Reply"), max_length=2000)
