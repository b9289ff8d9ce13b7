"""Comments on posts: who may write, see and moderate them (service.py), and the mails
they cause with their one-click unsubscribe (notifications.py)."""
