"""kafkarig's smoke suite: ``nox -s smoke`` (``pytest harness/smoke``) against a running stack
or, with ``--bootstrap``, against any cluster."""
