"""The Textual TUI: `task watch ID` (one task, live) and `dashboard` (all tasks).

Nothing here is imported by the CLI until the TUI starts: `agent-agency-cli --help`
never loads Textual. Entry points: `agent_agency_cli.tui.app.create_app` (the factory
the tests use) and `agent_agency_cli.tui.app.run_tui` (what the CLI calls).

Layout: one widget per module (header, steps, step_log, step_details, metrics,
events_panel, tasks_table, filter_bar, reason_modal, modify_modal,
approval_modal; `lines` is the scrolling base of the log and events panes), the
two screens (task_screen, overview_screen), `feed` (the polling model, no
Textual) and `format` (icons, colours, bars, event lines). Styles live in
`app.tcss` and `modals.tcss`.
"""
