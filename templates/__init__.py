"""kafkarig's Jinja templates, installed as the package ``kafkarig_templates`` (package data)."""
