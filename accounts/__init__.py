"""Accounts: sign-in, sessions, email links, passkeys, throttles, usernames, and the
mail an account receives."""
