"""A task for the Celery worker started by test_multiprocess_metrics (loaded with `-I`)."""

from chatsite.celery import app


@app.task(name="tests.metrics.add")
def add(a: int, b: int) -> int:
    return a + b
