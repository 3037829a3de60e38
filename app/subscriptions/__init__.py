"""Subscriptions: followed channels and playlists, checked on a schedule for new uploads."""
