"""Gateway mode: the edge speaks an existing Whaticket-family helpdesk's socket contract."""
