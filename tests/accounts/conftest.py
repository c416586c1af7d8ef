from tests.smtp import eager_celery, smtp_server  # noqa: F401 (fixtures for these tests)
