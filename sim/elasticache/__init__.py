"""Amazon ElastiCache: its node types, cluster mode, managed-backup rules and costs, old node
generations, and which builds (ElastiCache's or open source) can back up without forking."""
