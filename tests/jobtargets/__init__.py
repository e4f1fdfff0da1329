"""Modules used as python job targets whose import itself is observable."""
