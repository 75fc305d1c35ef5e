"""Platform adapters: verify (signatures), parse (to InboundMessage), send and look up replies, one
module per platform, each implementing ``base.Platform``.

Import a platform's module directly (``from channels_app.platforms.adapters import x``), or find
one by channel kind with ``registry.platform_for``; the shared types live in ``base``.
"""
