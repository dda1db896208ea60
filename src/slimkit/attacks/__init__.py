"""Adversarial attacks for robust training and evaluation (DP-Net's robust compression uses PGD)."""

from slimkit.attacks.pgd import PgdSettings, adversarial_accuracy, normalized_pgd_settings, pgd_attack

__all__ = ["PgdSettings", "adversarial_accuracy", "normalized_pgd_settings", "pgd_attack"]
