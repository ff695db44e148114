"""The chaos suite: faults on a kafkarig stack, checked by the delivery checker."""
