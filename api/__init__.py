"""Read-only REST API for staff: tasks, baseline sessions, flags, statistics and the exports (docs/api.md)."""
