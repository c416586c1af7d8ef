"""Celery application. Broker and eager mode come from settings (see CELERY_* there)."""

import contextlib
import os
from time import perf_counter
from typing import Any

from celery import Celery
from celery.signals import task_failure, task_postrun, task_prerun, worker_process_shutdown

from chatsite import redis_url

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Celery takes CELERY_BROKER_URL from the environment before any setting. A redis+sentinel://
# address there (chatsite/redis_url.py) is Parley's, not kombu's: it moves to
# PARLEY_CELERY_BROKER_URL, where settings read it and make kombu's sentinel:// form (with the
# master_name transport option) of it.
if redis_url.is_sentinel(os.environ.get("CELERY_BROKER_URL", "")):
    os.environ["PARLEY_CELERY_BROKER_URL"] = os.environ.pop("CELERY_BROKER_URL")


class ParleyCelery(Celery):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per running task of this process: when it started (parley_celery_task_duration_seconds)
        # and its log binding; the app's own, as the signals that fill it are.
        self.running: dict[str, tuple[float, Any]] = {}


app = ParleyCelery("chatsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _task_started(task_id: str, task: Any, **kwargs: Any) -> None:
    from chatsite import logs

    app.running[task_id] = (perf_counter(), logs.bind(task_id=task_id, task=task.name))


@task_postrun.connect
def _task_finished(task_id: str, task: Any, **kwargs: Any) -> None:
    from chatsite import logs, metrics

    started, token = app.running.pop(task_id, (None, None))
    if started is not None:
        metrics.celery_task_finished(task=task.name, seconds=perf_counter() - started)
    if token is not None:
        with contextlib.suppress(ValueError):  # bound in another context: nothing to undo here
            logs.unbind(token)


@task_failure.connect
def _task_failed(sender: Any = None, **kwargs: Any) -> None:
    from chatsite import metrics

    metrics.celery_task_failed(task=getattr(sender, "name", "unknown"))


@worker_process_shutdown.connect
def _worker_process_gone(pid: int | None = None, **kwargs: Any) -> None:
    from chatsite import metrics

    metrics.process_exited(pid)
