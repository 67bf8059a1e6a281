"""Signals other apps use to follow terminal sessions, without the terminal knowing about them.

Sent by terminal/control.py's hooks, from the session host's events; baselining's clock receives them.
"""

from django.dispatch import Signal

# From the session host's watcher (kwargs session_id, at): no input for IDLE_PAUSE_AFTER (at = the last
# input), the owner's browser gone for DISCONNECT_PAUSE_AFTER (at = when it went), and back again.
session_idle = Signal()
session_owner_left = Signal()
session_owner_back = Signal()
# The session's owner attached to the live shell for the first time (kwargs session_id, at).
session_owner_attached = Signal()
# The session's shell could not be reached because of the platform (its session host was down) from
# `since` to `until` (kwargs session_id, since, until): reported once the shell is adopted again.
session_platform_outage = Signal()
# The session's machine stopped sending heartbeats (kwargs session_id, since = its last heartbeat): its
# shell cannot be reached; session_platform_outage follows if a session host adopts it again.
session_platform_down = Signal()
# A long-paused session was parked: its files kept, its sandbox gone (kwargs session_id, at).
session_parked = Signal()
# A new session's sandbox could not start; it may be tried again (kwargs session_id, reason).
session_start_failed = Signal()
