"""kafkarig messaging harness: producer, retrying consumer with DLQ, kcat, smoke suite.

Nothing here imports ``infra``: the harness works against any bootstrap server.
"""
