"""What a secure stack's compose template and containers hold: the broker settings of the
host listener, and where kafkarig puts the TLS files and the admin's client config inside
each broker container.

The files are not bind-mounted: the broker runs as uid 1000 and could not read a 0600 key
owned by the host user. ``up`` copies them into each created container before it starts
(:mod:`infra.secrets`), owned by uid 1000, keys 0600.
"""

from __future__ import annotations

from typing import Any, Final

from infra.config.security import SecuritySection

BROKER_UID: Final = 1000
"""The user the broker runs as in every image flavor (apache, confluent, local)."""
CONTAINER_CONFIG_DIR: Final = "/etc/kafka"
TLS_DIR: Final = f"{CONTAINER_CONFIG_DIR}/tls"
"""In each broker container: ``ca.pem``, ``<broker>.keystore.pem`` (and, with client
certificates, ``<admin>.keystore.pem``)."""
ADMIN_PROPERTIES: Final = f"{CONTAINER_CONFIG_DIR}/admin.properties"
"""In each broker container: the admin's Java client config (``--command-config``)."""
ADMIN_SCRAM_PROPERTIES: Final = f"{CONTAINER_CONFIG_DIR}/admin-scram.properties"
"""In each broker container: the admin's SCRAM credential for ``kafka-configs``."""

KRAFT_AUTHORIZER: Final = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ZOOKEEPER_AUTHORIZER: Final = "kafka.security.authorizer.AclAuthorizer"
ANONYMOUS: Final = "User:ANONYMOUS"
"""The principal of the plaintext INTERNAL and CONTROLLER listeners: brokers, controllers
and in-network tools. It must be a super user, so the compose network is trusted."""
PRINCIPAL_MAPPING_RULES: Final = "RULE:^CN=([^,]+)$/$1/,DEFAULT"
"""With client certificates: a certificate whose subject is ``CN=app`` is ``User:app``."""


def keystore_path(name: str) -> str:
    """Where a broker's (or the admin's) PEM keystore is inside a broker container."""
    return f"{TLS_DIR}/{name}.keystore.pem"


def security_context(security: SecuritySection, *, kraft: bool) -> dict[str, Any] | None:
    """The compose template's ``security`` context: None for a plaintext host listener."""
    if not security.enabled:
        return None
    authorizer = (
        (KRAFT_AUTHORIZER if kraft else ZOOKEEPER_AUTHORIZER) if security.authenticates else None
    )
    return {
        "tls": security.uses_tls,
        "tls_dir": TLS_DIR,
        "client_certificates": security.client_certificates,
        "principal_mapping_rules": PRINCIPAL_MAPPING_RULES,
        "mechanism": security.sasl_mechanism,
        "authorizer": authorizer,
        "super_users": f"User:{security.admin_user};{ANONYMOUS}",
    }
