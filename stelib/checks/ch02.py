"""Checkers for chapter 2's coding exercises."""
