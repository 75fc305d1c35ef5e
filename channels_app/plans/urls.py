"""URLs of the plan pages: wizard, plan, landing page settings, approvals."""

from django.urls import path

from channels_app.plans.views import detail, landing, review, wizard

urlpatterns = [
    path("plans/new/", wizard.wizard, name="plan_new"),
    path("plans/<int:pk>/", detail.plan_detail, name="plan_detail"),
    path("plans/<int:pk>/edit/", wizard.wizard, name="plan_edit"),
    path("plans/<int:plan_id>/landing/", landing.plan_landing, name="plan_landing"),
    path("plans/<int:pk>/submit/", review.plan_submit, name="plan_submit"),
    path("plans/<int:pk>/cancel/", review.plan_cancel, name="plan_cancel"),
    path("plans/<int:pk>/copy/", review.plan_copy, name="plan_copy"),
    path("plans/drafts/<int:pk>/autosave/", wizard.autosave, name="plan_draft_autosave"),
    path("plans/drafts/<int:pk>/instant/", wizard.phase_instant, name="plan_draft_instant"),
    path("plans/drafts/<int:pk>/preview/", wizard.reply_preview, name="plan_draft_preview"),
    path("plans/drafts/<int:pk>/notice-preview/", wizard.notice_preview, name="plan_draft_notice_preview"),
    path("plans/drafts/<int:pk>/discard/", wizard.discard, name="plan_draft_discard"),
    path("approvals/", review.approvals, name="approvals"),
    path("approvals/<int:pk>/", review.approval_review, name="approval_review"),
    path("approvals/<int:pk>/approve/", review.plan_approve, name="plan_approve"),
    path("approvals/<int:pk>/send-back/", review.plan_send_back, name="plan_send_back"),
]
