"""Dead letters: the table, its store, and replay back to the broker.

The worker's dispatch writes :class:`DeadLetterRecord` values through :class:`DeadLetterStore`;
operators read and replay them with ``workerkit dead-letters``. The schema belongs to the
Alembic migrations in ``workerkit/deadletters/migrations`` and nothing else creates it.
"""

from workerkit.deadletters.query import DeadLetterFilter
from workerkit.deadletters.record import DeadLetterRecord
from workerkit.deadletters.store import DeadLetterStore

__all__ = ["DeadLetterFilter", "DeadLetterRecord", "DeadLetterStore"]
