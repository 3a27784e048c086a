"""Checkers for chapter 5's coding exercises."""
