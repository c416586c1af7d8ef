from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self) -> None:
        from .partitions import CommittedPartitions

        # The message partitions this process has seen committed (messaging/partitions.py).
        self.committed_partitions = CommittedPartitions()
