"""The model's classes: the ten digits, then one more for every picture that is not a digit."""

from __future__ import annotations

DIGITS = 10  # classes 0-9: the digit itself
NOT_A_DIGIT = DIGITS  # the eleventh class: the label of every negative sample, and the digit a refusal is recorded with
NOT_A_DIGIT_LABEL = "not_a_digit"  # how the API names NOT_A_DIGIT as a correction's label
