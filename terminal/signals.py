"""Signals other apps use to follow terminal sessions, without the terminal knowing about them."""

from django.dispatch import Signal

# Sent after commit when a session's sandbox is ready and its owner attached: kwargs session_id, at.
session_live = Signal()
# Sent after commit when a session ends: kwargs session_id, reason, failed.
session_ended = Signal()
