"""rbsim: a simulator and capacity planner for Redis/ElastiCache backups."""
