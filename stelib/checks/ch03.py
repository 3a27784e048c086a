"""Checkers for chapter 3's coding exercises."""
