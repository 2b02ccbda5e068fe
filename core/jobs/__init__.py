"""Backtest jobs: a persistent queue in the database, runners that claim from it, and
`filterbets worker` processes that share it.

    from core.jobs.queue import JobQueue      # submit, list, show, cancel, retry, claim, reap
    from core.jobs.runner import JobRunner    # runs up to N jobs on this event loop
    from core.jobs.child import ChildRunner   # a JobRunner in a child process (the dashboard's)
    from core.jobs.worker import run_worker   # the headless worker loop

Nothing is imported here, so `filterbets --help` stays fast.
"""
