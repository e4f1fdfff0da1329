"""The maintenance commands, one module per area; ``pgsched.cli`` registers them."""
