"""Checkers for chapter 4's coding exercises."""
