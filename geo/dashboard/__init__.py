"""Figures the command centre's screen reads: statistics by area, trends, search."""
