"""How the driver retries the log's statements: all of them are idempotent upserts or reads."""

from __future__ import annotations

from cassandra.policies import RetryPolicy


class IdempotentRetryPolicy(RetryPolicy):
    """The driver's default policy, except that a write timeout is retried once: the default rethrows it,
    since it cannot know that the statement may be repeated, and ours always may."""

    def on_write_timeout(self, query, consistency, write_type, required_responses, received_responses, retry_num):
        if retry_num == 0:
            return self.RETRY, consistency
        return self.RETHROW, None
