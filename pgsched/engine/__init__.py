"""The worker engine: claim, plan, execute, finish.

``worker`` runs the claim loop; ``repository`` is its only door to SQL; ``planner``
turns a due job into runs; ``finisher`` records outcomes in batches; ``heartbeat``
and ``listener`` are its side loops; ``events`` and ``metrics`` tell what happened.
"""
