"""Tip delivery: the push outbox, its worker and the delivery policy."""

from __future__ import annotations

# Registered on import of the package (every process loads the models), so /metrics on any
# web or worker process shows the outbox depth.
from service.delivery import metrics as metrics
