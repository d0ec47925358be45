"""muslin: plan and perform Python installs for Alpine Linux / musl container images."""

__version__ = "0.1.0"
