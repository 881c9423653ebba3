"""Fail-safe and guardrails: the state machine that stops trading when something is wrong."""
