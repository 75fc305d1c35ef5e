"""Running a plan at its instants: the engine, rollback, reminders, the after-sunset watchdog."""
