"""The engine: runs tasks (runner), claims them and applies interventions (scheduler),
recovers after crashes (recovery), and lives as a background daemon (daemon)."""
