"""kafkarig infrastructure: stack model, rendering, Docker, topics, images, CLI."""
