"""Gymnasium environments that ship with the project: the Pac-Man-like grid game."""
