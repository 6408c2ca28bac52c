"""Projector: folds commands into Cassandra read models, then appends facts to the events log."""
