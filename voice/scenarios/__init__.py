"""Scripted calls: the file format (``script``), the in-service player (``player``).

The shipped scenario files (``*.yaml``) sit in this folder too; ``voice serve
--demo`` loops ``billing_dispute.yaml``.
"""
