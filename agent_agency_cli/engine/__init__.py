"""The engine: claims tasks and applies interventions (engine.py: class Engine), runs one
task (runner.py, with lifecycle.py, approvals.py, live_control.py), the intervention
handlers shared with tasks no engine holds (control.py), recovers after crashes
(recovery.py), archives finished tasks (task_archive.py), and lives as a background
daemon (daemon.py)."""
