package realtime
