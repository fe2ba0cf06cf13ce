"""The imperative shell: `Search`, budgets, history, callbacks and reports."""
