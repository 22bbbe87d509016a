"""Scheduled runs: schedules are CronWorkflows, fired locally by nbflow's scheduler or by Argo."""
