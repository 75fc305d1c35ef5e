"""URLs of the browser portal's pages."""

from django.urls import path

from .pages import browse, review, wizard

urlpatterns = [
    path("channels/", browse.channel_list, name="channel_list"),
    path("channels/<int:pk>/", browse.channel_detail, name="channel_detail"),
    path("channels/<int:pk>/volume/", browse.channel_volume, name="channel_volume"),
    path("plans/new/", wizard.wizard, name="plan_new"),
    path("plans/<int:pk>/", browse.plan_detail, name="plan_detail"),
    path("plans/<int:pk>/edit/", wizard.wizard, name="plan_edit"),
    path("plans/<int:pk>/submit/", review.plan_submit, name="plan_submit"),
    path("plans/<int:pk>/cancel/", review.plan_cancel, name="plan_cancel"),
    path("plans/drafts/<int:pk>/autosave/", wizard.autosave, name="plan_draft_autosave"),
    path("plans/drafts/<int:pk>/instant/", wizard.phase_instant, name="plan_draft_instant"),
    path("plans/drafts/<int:pk>/preview/", wizard.reply_preview, name="plan_draft_preview"),
    path("plans/drafts/<int:pk>/discard/", wizard.discard, name="plan_draft_discard"),
    path("approvals/", review.approvals, name="approvals"),
    path("approvals/<int:pk>/", review.approval_review, name="approval_review"),
    path("approvals/<int:pk>/approve/", review.plan_approve, name="plan_approve"),
    path("approvals/<int:pk>/send-back/", review.plan_send_back, name="plan_send_back"),
    path("runs/<int:pk>/", browse.run_detail, name="run_detail"),
    path("audit/", browse.audit_log, name="audit_log"),
    path("audit/<int:pk>/", browse.audit_event, name="audit_event"),
    path("settings/profile/", browse.profile, name="profile"),
    path("csp-report/", browse.csp_report, name="csp_report"),
]
