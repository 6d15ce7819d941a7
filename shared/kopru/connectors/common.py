"""What every connector shares: the retry policy for transient errors. (The simulators and
the loopback server they run on are tools: kopru_tools.simulators.)"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; only errors that say they are retryable
    (each connector's TransientError) are retried."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 60.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (retry - 1)))

    @staticmethod
    def retryable(exc: BaseException) -> bool:
        return bool(getattr(exc, "retryable", False))


READ_RETRY = RetryPolicy(attempts=3, base_delay=0.2, max_delay=2.0)
