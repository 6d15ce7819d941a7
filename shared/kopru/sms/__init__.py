"""SMS: encoding and cost of a message (``kopru.sms.encoding``).

Importing this package is cheap: pure Python, no I/O.
"""

from kopru.sms.encoding import MAX_SEGMENTS, Estimate, MessageTooLong, estimate, split

__all__ = ["MAX_SEGMENTS", "Estimate", "MessageTooLong", "estimate", "split"]
