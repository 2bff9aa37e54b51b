"""The facade's parts: intake (validation, council, planning at submit), views (read
models) and control (interventions, review, retry). `TaskOrchestrator` composes them."""
