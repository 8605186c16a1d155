"""Widgets the dashboard's screens share."""
