"""Taking your data with you and bringing it in: the export and import archives."""
