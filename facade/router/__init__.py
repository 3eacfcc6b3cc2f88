"""Router: which targets can run this model here, in what order, and opening the first that works.

:func:`plan` (:mod:`facade.router.planning`) judges every target of the catalogue
and ranks the viable ones; :func:`open_runner` (:mod:`facade.router.opening`)
loads them in order and records each failure; :mod:`facade.router.steps` holds
the per-entry steps (policy decision, probe verdicts, options, benchmark order)
and :mod:`facade.router.gate` the accuracy gate (conformance verdicts). All write
into one :class:`~facade.trace.Trace`.
"""

from facade.router.opening import open_runner
from facade.router.planning import plan, target_availability

__all__ = ["open_runner", "plan", "target_availability"]
