"""Errors: the domain errors services raise (domain.py), each with a stable code, and
how a failure of the database itself is told apart from a bug (unavailable.py)."""
