"""Engines registered with melfoley.core.engine: debug, embedded, paper."""
