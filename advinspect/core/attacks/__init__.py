"""Evasion attacks: one module per family, a shared engine in base.py, lookup in registry.py."""

from advinspect.core.attacks.base import Attack, AttackResult, build_params, parse_number
from advinspect.core.attacks.registry import all_attacks, get_attack

__all__ = ["Attack", "AttackResult", "all_attacks", "build_params", "get_attack", "parse_number"]
