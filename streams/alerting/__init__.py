"""The spike-alert stage: windowed counts per key, baselines, rule evaluation, alert delivery.

:mod:`.baselines` (what a key usually does) and :mod:`.detection` (whether this window is a spike)
are pure: no Kafka, no Faust, no I/O, so every rule kind is tested on synthetic series. The Faust
detector agent that keeps the counts in changelog-backed tables, the rule files, the notifier and
the CLI build on them.
"""
