"""Every write to the task suite goes through these services."""
