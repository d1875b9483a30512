"""Where bytes come from: one small adapter per host, all with the protocol of targets.base."""
