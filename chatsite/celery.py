"""Celery application. Broker and eager mode come from settings (see CELERY_* there)."""

import os
from time import perf_counter
from typing import Any

from celery import Celery
from celery.signals import task_failure, task_postrun, task_prerun, worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

app = Celery("chatsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Task run times for parley_celery_task_duration_seconds, by task id while it runs.
_started: dict[str, float] = {}


@task_prerun.connect
def _task_started(task_id: str, **kwargs: Any) -> None:
    _started[task_id] = perf_counter()


@task_postrun.connect
def _task_finished(task_id: str, task: Any, **kwargs: Any) -> None:
    from chatsite import metrics

    started = _started.pop(task_id, None)
    if started is not None:
        metrics.celery_task_finished(task=task.name, seconds=perf_counter() - started)


@task_failure.connect
def _task_failed(sender: Any = None, **kwargs: Any) -> None:
    from chatsite import metrics

    metrics.celery_task_failed(task=getattr(sender, "name", "unknown"))


@worker_process_shutdown.connect
def _worker_process_gone(pid: int | None = None, **kwargs: Any) -> None:
    from chatsite import metrics

    metrics.process_exited(pid)
