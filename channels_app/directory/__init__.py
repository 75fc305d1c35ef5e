"""Channels, teams and agents: who and what a sunset acts on."""
