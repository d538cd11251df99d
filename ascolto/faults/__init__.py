"""Fault injection for the fault suite (tests/faults) and its benchmark (bench/faults.py).

Four modules, used by both:

* ``private_stack``: :class:`PrivateStack`, a second embedded Kafka + Elasticsearch under its
  own home, on free ports, so that servers can be SIGKILLed or SIGSTOPped without touching the
  stack everyone else uses (``ascolto stack up`` with ASCOLTO_HOME and the ASCOLTO_STACK_*_PORT settings);
* ``accounting``: exact accounting (:func:`account`): every post produced is either one
  document in the index (reached through the alias, as a search would) or one dead letter, and
  nothing else;
* ``inputs``: what the faults feed the pipeline (poison, malformed and long posts);
* ``scenarios``: :data:`SCENARIOS`, one per fault, each injecting it into a running pipeline,
  lifting it, and returning an :class:`Outcome` (the accounting and the recovery time: from the
  fault being lifted, or injected for bad input, to the index count rising again).

Nothing is simulated: the servers are real processes and the signals are real signals.
"""
