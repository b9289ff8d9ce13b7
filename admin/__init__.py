"""What admins do (accounts/roles.py): suspend and restore accounts, delete any post,
and the append-only log of every such action."""
