"""Plans: YAML plan files, the DAG analysis (levels, cycles, critical path)."""
