"""Checkers for chapter 1's coding exercises."""
