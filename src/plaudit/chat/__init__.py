"""AI Chat Feedback jobs (seed 004): CML, jobs, units, assignment, conversations, QA, results."""
