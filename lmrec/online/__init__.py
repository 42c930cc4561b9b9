"""Online learning: the durable event log the service writes, and the updater that learns from it."""

from lmrec.online.events import Event, EventLog, default_path

__all__ = ["Event", "EventLog", "default_path"]
