"""Schedules: cron expressions (``cron``) and fire instants in a time zone (``schedule``). Pure."""
